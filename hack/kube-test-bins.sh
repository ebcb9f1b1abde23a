#!/usr/bin/env bash
# hack/kube-test-bins.sh [OUTDIR]
#
# Builds the real kube-apiserver and etcd that the cluster integration tests start,
# from the Go module proxy, into a cache outside the checkout (default
# $HOME/.cache/edgeroute/kube-test-bins/<kube>-<etcd>). Each binary is skipped when it
# is already there at the wanted version, so only a fresh machine pays the cold build
# (about 10 minutes of two cores for kube-apiserver, one more for etcd).
# Prints the directory on stdout; progress goes to stderr.
#
#   KUBE_VERSION  k8s.io/kubernetes version         (default v1.37.2, matching our client-go)
#   ETCD_VERSION  go.etcd.io/etcd/server/v3 version (default v3.7.3)
set -euo pipefail

KV=${KUBE_VERSION:-v1.37.2}
EV=${ETCD_VERSION:-v3.7.3}
OUT=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeroute/kube-test-bins/$KV-$EV}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
SRC=$OUT/.src
say() { echo "kube-test-bins: $*" >&2; }
# The throwaway tools modules must not see a caller's go.work or -mod flags.
export GOWORK=off GOFLAGS=-buildvcs=false

# Serialise concurrent callers (two test packages may ask at once).
exec 9>"$OUT/.lock"
flock 9

if [[ -x $OUT/kube-apiserver && "$("$OUT/kube-apiserver" --version 2>/dev/null)" == "Kubernetes $KV" ]]; then
  :
else
  t0=$SECONDS
  say "building kube-apiserver $KV into $OUT (cold build: about 10 minutes on 2 idle cores)"
  d=$SRC/kube-$KV; mkdir -p "$d"; cd "$d"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
  # ./staging paths, which Go ignores in a dependency. Our tools module points each of
  # them at its published v0.Y.Z instead.
  SV="v0.${KV#v1.}"
  modfile=$(go mod download -json "k8s.io/kubernetes@$KV" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $modfile ]] || { say "cannot download k8s.io/kubernetes@$KV"; exit 1; }
  {
    printf 'module kubetestbins\n\ngo %s\n\ntool k8s.io/kubernetes/cmd/kube-apiserver\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
      "$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$modfile")" "$KV"
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$modfile" | awk -v sv="$SV" '{printf "\t%s => %s %s\n", $1, $1, sv}'
    printf ')\n'
  } > go.mod
  go mod tidy
  major=${KV#v}; major=${major%%.*}; minor=${KV#v*.}; minor=${minor%%.*}
  ld="-s -w"
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $p.gitVersion=$KV -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  CGO_ENABLED=0 go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" \
    -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
  say "kube-apiserver $KV built in $((SECONDS - t0)) s"
fi

if [[ -x $OUT/etcd ]] && "$OUT/etcd" --version 2>/dev/null | grep -qx "etcd Version: ${EV#v}"; then
  :
else
  t0=$SECONDS
  say "building etcd $EV into $OUT"
  d=$SRC/etcd-$EV; mkdir -p "$d"; cd "$d"
  # `go install` refuses etcd's server module (its go.mod has replace directives).
  printf 'module etcdbin\n\ngo 1.26.0\n\ntool go.etcd.io/etcd/server/v3\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$EV" > go.mod
  go mod tidy
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$OUT/etcd.tmp" "$OUT/etcd"
  say "etcd $EV built in $((SECONDS - t0)) s"
fi
echo "$OUT"
