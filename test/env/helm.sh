#!/usr/bin/env bash
# Builds the Helm CLI from source through the Go module proxy (no release downloads, no Docker)
# and caches it per version, like test/env/kube.sh does for the Kubernetes binaries.
#
# Usage: test/env/helm.sh <command>
#   build [--force]   go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION into the cache (skipped
#                     when the binary is already there), with the ldflags of Helm's own Makefile
#                     so `helm version` and the default .Capabilities.KubeVersion are the release's
#   path              print the binary's path (exit 1 if it is not built yet)
#   version           run `helm version` with the cached binary
#
# Environment (defaults in brackets):
#   HELM_VERSION [v3.22.0]         the newest Helm 3 the module proxy serves (its go.mod needs Go 1.26)
#   MQBRIDGE_CACHE [~/.cache/mqbridge]  binary in <cache>/helm/<version>/bin/helm
#   HELM_BUILD_JOBS [2]            `go install -p`; the build also runs under `nice -n 10`
#   GO [go on PATH, else /usr/local/go/bin/go]
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.22.0}
CACHE_DIR=${MQBRIDGE_CACHE:-$HOME/.cache/mqbridge}/helm/$HELM_VERSION
BIN_DIR=$CACHE_DIR/bin
HELM_BIN=$BIN_DIR/helm
HELM_BUILD_JOBS=${HELM_BUILD_JOBS:-2}

LOG_TAG=helm
# shellcheck source=test/env/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
GO_NEEDED="Go >= 1.26 is needed to build Helm $HELM_VERSION"

# Settings every go call shares: no go.work from above, static binary, no C toolchain.
gocmd() { GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 "$(go_bin "$GO_NEEDED")" "$@"; }

# Helm's Makefile sets the version, and the Kubernetes version `helm template` and `helm lint`
# assume without a cluster (major+1 / minor of the k8s.io/client-go it is built with: v0.37 → 1.37).
helm_ldflags() {
  local gomod client_go major minor
  gomod=$(cd "$CACHE_DIR" && gocmd mod download -json "helm.sh/helm/v3@$HELM_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -s $gomod ]] || die "cannot download helm.sh/helm/v3@$HELM_VERSION from the module proxy"
  client_go=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")
  [[ $client_go =~ ^v0\.([0-9]+)\. ]] || die "cannot find k8s.io/client-go in $gomod"
  major=1 minor=${BASH_REMATCH[1]}
  local flags="-s -w"
  flags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  flags+=" -X helm.sh/helm/v3/internal/version.metadata="
  flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local pkg
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    flags+=" -X $pkg.k8sVersionMajor=$major -X $pkg.k8sVersionMinor=$minor"
  done
  echo "$flags"
}

cmd_build() {
  local force=0
  case ${1:-} in
    '') ;;
    --force) force=1 ;;
    *) die "usage: build [--force]" ;;
  esac
  mkdir -p "$BIN_DIR"
  # One build at a time per cache (parallel test jobs may all call build).
  exec 9>"$CACHE_DIR/.build.lock"
  flock 9
  if [[ -x $HELM_BIN && $force == 0 ]]; then
    say "helm $HELM_VERSION: cached ($HELM_BIN, $(du -h "$HELM_BIN" | cut -f1))"
    return 0
  fi
  local t0 t1 ldflags tmp
  t0=$(now_ms)
  say "helm $HELM_VERSION, Go $("$(go_bin "$GO_NEEDED")" env GOVERSION), cache $BIN_DIR"
  ldflags=$(helm_ldflags)
  say "module and go.mod fetched in $(since "$t0")"
  # go install writes <GOBIN>/helm; a private GOBIN first, so an interrupted build never leaves
  # a truncated binary that later counts as cached.
  tmp=$(mktemp -d "$CACHE_DIR/gobin.XXXXXX")
  t1=$(now_ms)
  say "building helm.sh/helm/v3/cmd/helm@$HELM_VERSION (go install -p $HELM_BUILD_JOBS, nice 10)..."
  # The module download chatter goes to go.log, shown only when the build fails.
  if ! (cd "$CACHE_DIR" && nice -n 10 env GOBIN="$tmp" GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
    "$(go_bin "$GO_NEEDED")" install -p "$HELM_BUILD_JOBS" -trimpath -ldflags "$ldflags" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") >"$CACHE_DIR/go.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/go.log" >&2
    rm -rf "$tmp"
    die "go install failed (log: $CACHE_DIR/go.log)"
  fi
  mv "$tmp/helm" "$HELM_BIN"
  rm -rf "$tmp"
  say "compiled in $(since "$t1"), $(du -h "$HELM_BIN" | cut -f1)"
  say "$("$HELM_BIN" version --short)"
  say "build done in $(since "$t0"): $HELM_BIN"
}

cmd_path() {
  [[ -x $HELM_BIN ]] || die "helm $HELM_VERSION not built yet (run: test/env/helm.sh build)"
  echo "$HELM_BIN"
}


main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    build) cmd_build "$@" ;;
    path) cmd_path ;;
    version) "$(cmd_path)" version ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
