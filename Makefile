# edgeroute: an ingress proxy that reads Traefik's CRDs and routes like Traefik v3.
GO       ?= go
FUZZTIME ?= 30s
BENCHTIME ?= 1s
COUNT    ?= 1

.PHONY: kube-bins run bench-load all build test test-race vet fmt-check lint deps bench fuzz fuzz-seeds clean

all: build test

build:
	$(GO) build ./...
	$(GO) build -o bin/edgeroute .

# The README's first command: two whoami backends and the proxy on
# examples/quickstart, entry point web on :8000. Ctrl-C stops all three.
run: build
	@set -e; trap 'kill $$A $$B 2>/dev/null' EXIT INT TERM; \
	bin/edgeroute whoami --address 127.0.0.1:9001 --name whoami-a & A=$$!; \
	bin/edgeroute whoami --address 127.0.0.1:9002 --name whoami-b & B=$$!; \
	echo "try: curl -H 'Host: a.localhost' localhost:8000/   curl localhost:8000/b/x   curl -H 'Host: split.localhost' localhost:8000/"; \
	echo "     curl -k --http2 --resolve secure.localhost:8000:127.0.0.1 https://secure.localhost:8000/"; \
	echo "     curl localhost:8000/api/users   (middlewares; bin/edgeroute explain --providers.manifests.directory=examples/quickstart GET http://localhost/api/users)"; \
	bin/edgeroute --entryPoints.web.address=:8000 --providers.manifests.directory=examples/quickstart

# The README's test command: formatting, vet, import rules, unit tests with
# the allocation guards, then the race detector (which skips the guards).
# The cluster tests need a real kube-apiserver and etcd: kube-bins builds
# them once into ~/.cache/edgeroute (about 10 minutes on a fresh machine).
# h2spec gates the HTTP/2 front door (engine/h2spec_test.go); h2spec-bin
# builds it once into ~/.cache/edgeroute/bin (about 20 s).
test: fmt-check vet deps kube-bins h2spec-bin
	EDGEROUTE_H2SPEC=$$(hack/h2spec-bin.sh) $(GO) test -count=1 ./...
	EDGEROUTE_H2SPEC=$$(hack/h2spec-bin.sh) $(GO) test -race -count=1 ./...

kube-bins:
	@hack/kube-test-bins.sh >/dev/null

h2spec-bin:
	@hack/h2spec-bin.sh >/dev/null

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: fmt-check vet deps

# Import rules of the package map (see README, "Layout").
deps:
	@sh scripts/check-deps.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(COUNT) ./compile/...

# The load harness: edgeroute, nginx and HAProxy side by side (installs wrk,
# nginx and haproxy from Debian when missing; for the TLS modes h2load and
# openssl). MODE: http (default), https, handshake, h2, comma-separated.
# Loopback only.
N        ?= 1,1000,10000,100000
VARIANT  ?= simple,mixed
ROUNDS   ?= 3
DURATION ?= 10s
CONNS    ?= 64
MODE     ?= http
bench-load: build
	$(GO) run ./bench/load -n $(N) -variant $(VARIANT) -rounds $(ROUNDS) -duration $(DURATION) -conns $(CONNS) -mode $(MODE)

# Every native fuzz target, FUZZTIME each: `make fuzz FUZZTIME=1m`; FUZZ
# selects targets by name (`make fuzz FUZZ='HTTP1|ClientHello'`: the proxy's
# raw HTTP/1.1 and ClientHello fuzzers, fuzz/http1 and fuzz/tlshello).
# `make test` runs every target's seed corpus as plain tests.
FUZZ ?= .
fuzz:
	@set -e; for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' | grep -E -- '$(FUZZ)'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run='^$$' -timeout=0 -fuzzminimizetime=100x -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

# Rewrites fuzz/http1's committed seeds from the smuggling table and
# explain's differential corpus (TestFuzzSeeds fails while they are stale).
fuzz-seeds:
	EDGEROUTE_WRITE_FUZZ_SEEDS=1 $(GO) test -count=1 -run '^TestFuzzSeeds$$' .

clean:
	rm -rf bin

# CustomResourceDefinitions of Traefik's HTTP kinds, from the Go types of
# k8swatch/crd (deploy's tests fail while the committed files are stale).
.PHONY: crds
crds:
	$(GO) run ./hack/crdgen -out deploy/crds

# HTTP/2 conformance alone: h2spec against the front door over TLS and h2c
# (engine/h2spec_test.go, about 12 s; `make test` runs it too).
.PHONY: h2spec h2spec-bin
h2spec: h2spec-bin
	EDGEROUTE_H2SPEC=$$(hack/h2spec-bin.sh) $(GO) test -count=1 -run '^TestH2Spec$$' -v ./engine/
