#!/bin/sh
# Enforces the import direction of the package map: the data plane (compile,
# lb, tlsmux) never depends on Kubernetes, compile never depends on fasthttp,
# and nothing outside bench/ and fuzz/ imports them.
set -e
mod=$(go list -m)
fail=0
check() { # package-pattern forbidden-regexp reason
	for p in $(go list "$1" 2>/dev/null); do
		bad=$(go list -deps "$p" | grep -E "$2" || true)
		if [ -n "$bad" ]; then
			echo "deps: $p must not import ($3):"; echo "$bad" | sed 's/^/    /'; fail=1
		fi
	done
}
check "./compile/..." "^k8s.io/|^sigs.k8s.io/|github.com/valyala/fasthttp|^$mod/(engine|k8swatch|lb|tlsmux|bench|fuzz)" "compile sees requests only through compile.Request"
for dir in lb tlsmux; do
	[ -d "$dir" ] && check "./$dir/..." "^k8s.io/|^sigs.k8s.io/|^$mod/(engine|k8swatch|bench|fuzz)" "the data plane builds without Kubernetes"
done
for p in $(go list ./... | grep -vE "^$mod/(bench|fuzz)(/|$)"); do
	bad=$(go list -f '{{join .Imports "\n"}}' "$p" | grep -E "^$mod/(bench|fuzz)(/|$)" || true)
	if [ -n "$bad" ]; then echo "deps: $p imports test scaffolding: $bad"; fail=1; fi
done
exit $fail
