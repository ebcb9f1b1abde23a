#!/usr/bin/env bash
# hack/h2spec-bin.sh [OUTDIR]
#
# Builds h2spec (github.com/summerwind/h2spec, the HTTP/2 conformance suite that
# engine/h2spec_test.go runs against the front door) from the Go module proxy into a
# cache outside the checkout (default $HOME/.cache/edgeroute/bin), once: it is
# skipped when the binary there was built from the same pins (a stamp file beside it;
# h2spec's own --version says 2.0.0 whatever the release). A cold build takes about
# 20 s. Prints the binary's path on stdout; progress goes to stderr.
#
# h2spec predates Go modules (v2.2.1+incompatible has no go.mod), so a plain
# `go install ...@v2.2.1+incompatible` takes the latest of each dependency. A
# throwaway tools module pins them instead: golang.org/x/net at our go.mod's version
# (h2spec writes its frames with x/net's Framer), cobra and color at the versions
# current when this was written.
#
#   H2SPEC_VERSION  github.com/summerwind/h2spec version (default v2.2.1+incompatible, the
#                   latest; engine/h2spec_test.go's lists of known failures are for it)
set -euo pipefail

V=${H2SPEC_VERSION:-v2.2.1+incompatible}
PINS="golang.org/x/net v0.62.0
github.com/spf13/cobra v1.10.2
github.com/fatih/color v1.19.0"
OUT=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeroute/bin}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
BIN=$OUT/h2spec
STAMP="github.com/summerwind/h2spec $V
$PINS"
# The throwaway tools module must not see a caller's go.work or -mod flags.
export GOWORK=off GOFLAGS=-buildvcs=false

# Serialise concurrent callers (two test runs, two checkouts).
exec 9>"$OUT/.h2spec.lock"
flock 9

if [[ -x $BIN && -f $BIN.stamp && "$(cat "$BIN.stamp")" == "$STAMP" ]]; then
  echo "$BIN"; exit 0
fi
t0=$SECONDS
echo "h2spec-bin: building github.com/summerwind/h2spec/cmd/h2spec@$V into $OUT" >&2
d=$OUT/.src/h2spec; rm -rf "$d"; mkdir -p "$d"; cd "$d"
{
  printf 'module h2specbin\n\ngo 1.22\n\ntool github.com/summerwind/h2spec/cmd/h2spec\n\nrequire (\n\tgithub.com/summerwind/h2spec %s\n' "$V"
  printf '%s\n' "$PINS" | sed 's/^/\t/'
  printf ')\n'
} > go.mod
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" github.com/summerwind/h2spec/cmd/h2spec
mv "$BIN.tmp" "$BIN"
printf '%s' "$STAMP" > "$BIN.stamp"
echo "h2spec-bin: built in $((SECONDS - t0)) s" >&2
echo "$BIN"
