#!/usr/bin/env bash
# Runs a real kube-apiserver with etcd on loopback for tests, the way controller-runtime's envtest
# does (no kubelet, no scheduler; optionally a kube-controller-manager for garbage collection).
# The binaries are compiled once from the Go module proxy (no Docker, no release downloads) and
# cached per Kubernetes version.
#
# Usage: test/env/kube.sh <command> [args]
#   build [--force]                build etcd, kube-apiserver, kubectl, kube-controller-manager,
#                                  and the node's kubelet, kube-scheduler and kube-proxy into the
#                                  cache (skips binaries already there)
#   start [--with-gc]              start etcd + kube-apiserver (builds first if needed), wait for
#                                  /readyz, write the admin kubeconfig and print its path.
#                                  --with-gc also runs kube-controller-manager with only the
#                                  controllers in KUBE_CONTROLLERS: ownerReferences cascade,
#                                  deleted namespaces go away, the aggregated ClusterRoles
#                                  view/edit/admin get their rules (all three stay undone without it).
#                                  The garbage collector rescans the API for new resource types only
#                                  every 30 s: for prompt cascades of custom resources, run `start`,
#                                  apply the CRDs, then `start --with-gc` (adds just the manager)
#   stop [--kill]                  stop everything (SIGTERM, SIGKILL after KUBE_STOP_TIMEOUT)
#   clean                          stop, then delete KUBE_DIR (etcd data, certificates, kubeconfigs)
#   status                         show what runs (exit 0 only if etcd and apiserver run)
#   logs [-f] [LINES]              show (or follow) the tail of the logs
#   kubeconfig                     print the admin kubeconfig's path
#   env                            print `export KUBECONFIG=...` (use: eval "$(kube.sh env)")
#   issue-user NAME [GROUP...]     write a kubeconfig for a non-admin user (client cert signed by
#                                  the test CA, CN=NAME, O=GROUP...) and print its path; it has no
#                                  rights until RBAC grants some
#   kubectl ARGS...                run the cached kubectl against the admin kubeconfig
#
# Environment (defaults in brackets):
#   KUBE_DIR [$PWD/.run/kube]      state: certs, etcd data, logs, pid files, kubeconfigs
#   MQBRIDGE_CACHE [~/.cache/mqbridge]  binaries in <cache>/kube/<version>/bin (the Go build and
#                                  module caches stay in Go's default places)
#   KUBE_VERSION [v1.34.4]         Kubernetes version to build; etcd is built at the version that
#                                  k8s.io/kubernetes pins in its go.mod (v3.6.4 for v1.34.4)
#   KUBE_API_PORT [16443]          apiserver secure port on 127.0.0.1
#   KUBE_NODE_IP []                set by test/env/node.sh for a cluster with a real node: the
#                                  apiserver listens on this address (pods reach it through the
#                                  "kubernetes" Service), admits pods with service accounts and
#                                  authorizes kubelets with the Node authorizer
#   KUBE_ETCD_PORT [12379]  KUBE_ETCD_PEER_PORT [12380]  KUBE_KCM_PORT [16257]
#   KUBE_CONTROLLERS [garbage-collector-controller,namespace-controller,clusterrole-aggregation-controller]
#   KUBE_READY_TIMEOUT [120]       seconds to wait for readiness
#   KUBE_STOP_TIMEOUT [20]         seconds between SIGTERM and SIGKILL
#   KUBE_BUILD_JOBS [2]            `go build -p`; builds also run under `nice -n 10`
#   KUBE_ETCD_FSYNC [false]        true: let etcd fsync (envtest runs it with --unsafe-no-fsync)
#   GO [go on PATH, else /usr/local/go/bin/go]
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
CACHE_DIR=${MQBRIDGE_CACHE:-$HOME/.cache/mqbridge}/kube/$KUBE_VERSION
BIN_DIR=$CACHE_DIR/bin
SRC_DIR=$CACHE_DIR/src

KUBE_DIR=$(realpath -m "${KUBE_DIR:-$PWD/.run/kube}")
KUBE_API_PORT=${KUBE_API_PORT:-16443}
KUBE_ETCD_PORT=${KUBE_ETCD_PORT:-12379}
KUBE_ETCD_PEER_PORT=${KUBE_ETCD_PEER_PORT:-12380}
KUBE_KCM_PORT=${KUBE_KCM_PORT:-16257}
KUBE_CONTROLLERS=${KUBE_CONTROLLERS:-garbage-collector-controller,namespace-controller,clusterrole-aggregation-controller}
KUBE_READY_TIMEOUT=${KUBE_READY_TIMEOUT:-120}
KUBE_STOP_TIMEOUT=${KUBE_STOP_TIMEOUT:-20}
KUBE_BUILD_JOBS=${KUBE_BUILD_JOBS:-2}
KUBE_ETCD_FSYNC=${KUBE_ETCD_FSYNC:-false}
KUBE_NODE_IP=${KUBE_NODE_IP:-}

PKI=$KUBE_DIR/pki
LOG_DIR=$KUBE_DIR/logs
ADMIN_KUBECONFIG=$KUBE_DIR/kubeconfig
API_URL=https://${KUBE_NODE_IP:-127.0.0.1}:$KUBE_API_PORT
ETCD_URL=http://127.0.0.1:$KUBE_ETCD_PORT
CLUSTER_NAME=mqbridge-test

# Built from k8s.io/kubernetes/cmd/<name>. etcd comes from its own wrapper module, so it is built
# with the dependency versions etcd itself was released with.
# kubelet, kube-scheduler and kube-proxy make the single real node of test/env/node.sh.
K8S_BINARIES=(kube-apiserver kubectl kube-controller-manager kubelet kube-scheduler kube-proxy)

# ---------------------------------------------------------------------------------- helpers

LOG_TAG=kube
# shellcheck source=test/env/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
GO_NEEDED="Go >= 1.24 is needed to build Kubernetes ${KUBE_VERSION}"

# `go` with settings every build step shares. GOWORK=off: a go.work above the cache directory
# must not leak into the wrapper modules. CGO_ENABLED=0: static binaries, no C toolchain needed.
gocmd() { GOWORK=off CGO_ENABLED=0 "$(go_bin "$GO_NEEDED")" "$@"; }

# Runs `go "$@"` in module dir $1 with its (long) download chatter in $1/go.log, shown only
# when the command fails.
quiet_go() {
  local dir=$1
  shift
  if ! (cd "$dir" && gocmd "$@") >"$dir/go.log" 2>&1; then
    tail -n 30 "$dir/go.log" >&2
    return 1
  fi
}

pid_file() { echo "$KUBE_DIR/$1.pid"; }

# Prints the pid of component $1 (etcd|kube-apiserver|kube-controller-manager) if it is alive.
# The executable's name guards against a stale pid file whose pid now belongs to another process.
running_pid() {
  local f pid exe
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)} # the binary may have been rebuilt while it runs
  [[ ${exe##*/} == "$1" ]] || return 1
  echo "$pid"
}


# curl as the admin user (client cert in system:masters).
admin_curl() {
  curl -sS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"
}

# ------------------------------------------------------------------------------------ build

# Downloads the go.mod of a module version through the module proxy and prints its path.
module_gomod() {
  local json
  json=$(cd "$SRC_DIR" && gocmd mod download -json "$1") || die "cannot download $1"
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$json"
}

# Time of a module version's commit as the proxy reports it (used as the reproducible
# buildDate, so `kubectl version` shows a date that belongs to the release, not to this build).
module_time() {
  local json
  json=$(cd "$SRC_DIR" && gocmd mod download -json "$1")
  sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p' <<<"$json" | xargs cat | sed -n 's/.*"Time":"\([^"]*\)".*/\1/p'
}

# k8s.io/kubernetes replaces every k8s.io/<staging> module by ./staging/src/..., so neither
# `go install` nor a plain require works. Each staging module is also published on its own as
# v0.<minor>.<patch>; the wrapper module replaces every one of them by that version. The list
# grows between releases, so it is read from the tag's own go.mod every time.
prepare_kube_module() {
  local dir=$SRC_DIR/kube
  # .ready names the binaries the module was prepared for: a longer list prepares it again.
  [[ -f $dir/.ready && $(<"$dir/.ready") == "${K8S_BINARIES[*]}" ]] && return 0
  local t0 gomod staging_version go_line m
  t0=$(now_ms)
  say "preparing wrapper module for k8s.io/kubernetes@$KUBE_VERSION..."
  rm -rf "$dir"
  mkdir -p "$dir"
  gomod=$(module_gomod "k8s.io/kubernetes@$KUBE_VERSION")
  [[ -s $gomod ]] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"
  staging_version=v0.${KUBE_VERSION#v1.}
  go_line=$(awk '$1 == "go" { print $2; exit }' "$gomod")
  # Same `go` and `godebug` lines as upstream: they set the GODEBUG defaults the binaries run with.
  {
    echo "module mqbridge.test/kube-build"
    echo
    echo "go $go_line"
    grep -E '^godebug ' "$gomod" || true
  } >"$dir/go.mod"
  local staging=() replaces=()
  mapfile -t staging < <(sed -n '/^replace (/,/^)/p' "$gomod" |
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }')
  for m in "${staging[@]}"; do replaces+=("-replace=$m=$m@$staging_version"); done
  ((${#replaces[@]})) || die "found no staging modules in the go.mod of k8s.io/kubernetes@$KUBE_VERSION"
  (cd "$dir" && gocmd mod edit "${replaces[@]}")
  local pkgs=() b
  for b in "${K8S_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@$KUBE_VERSION"); done
  quiet_go "$dir" get -tool "${pkgs[@]}" || die "go get failed for k8s.io/kubernetes@$KUBE_VERSION"
  # The etcd version Kubernetes itself is tested with.
  awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$gomod" >"$dir/etcd-version"
  module_time "k8s.io/kubernetes@$KUBE_VERSION" >"$dir/build-date"
  echo "${K8S_BINARIES[*]}" >"$dir/.ready"
  say "wrapper module ready (${#replaces[@]} staging modules at $staging_version) in $(since "$t0")"
}

etcd_version() { cat "$SRC_DIR/kube/etcd-version" 2>/dev/null || echo unknown; }

# etcd's server module has replace directives too (../api, ../pkg...), but it requires the
# other etcd modules at published versions, so a wrapper that just requires it is enough.
etcd_module_dir() { echo "$SRC_DIR/etcd-$(etcd_version)"; }

prepare_etcd_module() {
  local version dir t0
  version=$(etcd_version)
  dir=$(etcd_module_dir)
  [[ -f $dir/.ready ]] && return 0
  t0=$(now_ms)
  say "preparing wrapper module for go.etcd.io/etcd/server/v3@$version..."
  rm -rf "$dir"
  mkdir -p "$dir"
  printf 'module mqbridge.test/etcd-build\n\ngo 1.23.0\n' >"$dir/go.mod"
  quiet_go "$dir" get -tool "go.etcd.io/etcd/server/v3@$version" || die "go get failed for etcd $version"
  touch "$dir/.ready"
  say "etcd wrapper module ready in $(since "$t0")"
}

# -X flags that make the binaries report the real release, as Kubernetes' own build does
# (hack/lib/version.sh): component-base for the servers, client-go for kubectl's client side.
kube_ldflags() {
  local v=$KUBE_VERSION major minor date pkg flags="-s -w"
  major=${v#v}; major=${major%%.*}
  minor=${v#v*.}; minor=${minor%%.*}
  date=$(<"$SRC_DIR/kube/build-date")
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    # gitCommit: the module proxy does not tell it; empty beats the "$Format:%H$" placeholder.
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit="
  done
  echo "$flags"
}

# Builds package $3 in module dir $2 into $BIN_DIR/$1, timed. Written to a temporary name first
# so an interrupted build never leaves a truncated binary that later counts as cached.
build_binary() {
  local name=$1 dir=$2 pkg=$3 ldflags=$4 t0 out=$BIN_DIR/$1
  if [[ -x $out && ${FORCE_BUILD:-0} != 1 ]]; then
    say "$name: cached ($(du -h "$out" | cut -f1))"
    return 0
  fi
  t0=$(now_ms)
  say "$name: building $pkg (go build -p $KUBE_BUILD_JOBS, nice 10)..."
  (cd "$dir" && nice -n 10 env GOWORK=off CGO_ENABLED=0 "$(go_bin "$GO_NEEDED")" build \
    -p "$KUBE_BUILD_JOBS" -trimpath -ldflags "$ldflags" -o "$out.tmp.$$" "$pkg") ||
    { rm -f "$out.tmp.$$"; die "$name: build failed"; }
  mv "$out.tmp.$$" "$out"
  say "$name: built in $(since "$t0"), $(du -h "$out" | cut -f1)"
}

cmd_build() {
  case ${1:-} in
    '') ;;
    --force) FORCE_BUILD=1 ;;
    *) die "usage: build [--force]" ;;
  esac
  mkdir -p "$BIN_DIR" "$SRC_DIR"
  # One build at a time per cache (parallel test jobs may all call start).
  exec 9>"$CACHE_DIR/.build.lock"
  flock 9
  local t0 b
  t0=$(now_ms)
  say "Kubernetes $KUBE_VERSION, Go $("$(go_bin "$GO_NEEDED")" env GOVERSION), cache $BIN_DIR"
  prepare_kube_module
  prepare_etcd_module
  build_binary etcd "$(etcd_module_dir)" go.etcd.io/etcd/server/v3 "-s -w"
  for b in "${K8S_BINARIES[@]}"; do
    build_binary "$b" "$SRC_DIR/kube" "k8s.io/kubernetes/cmd/$b" "$(kube_ldflags)"
  done
  say "build done in $(since "$t0")"
  flock -u 9
}

binaries_present() {
  local b
  for b in etcd kube-apiserver kubectl "$@"; do [[ -x $BIN_DIR/$b ]] || return 1; done
}

# ------------------------------------------------------------------------------------- certs

# Signs a client or serving certificate with the test CA. $1: file stem in $PKI, $2: subject,
# $3: extensions (one per line). RSA 2048 keys are made in well under a second.
sign_cert() {
  local stem=$1 subject=$2 ext=$3
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$stem.key" -out "$PKI/$stem.csr" \
    -subj "$subject" 2>/dev/null
  openssl x509 -req -in "$PKI/$stem.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile <(printf '%s\n' "$ext") \
    -out "$PKI/$stem.crt" 2>/dev/null
  rm -f "$PKI/$stem.csr"
  chmod 600 "$PKI/$stem.key"
}

# CA, apiserver serving cert, admin client cert (group system:masters, which RBAC always
# allows), controller-manager client cert and the service-account signing key pair. Kept
# across restarts so kubeconfigs handed out earlier stay valid.
ensure_pki() {
  mkdir -p "$PKI"
  if [[ ! -f $PKI/ca.crt ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
      -days 3650 -subj "/CN=$CLUSTER_NAME-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    chmod 600 "$PKI/ca.key"
    rm -f "$PKI"/apiserver.* "$PKI"/admin.* "$PKI"/controller-manager.*
  fi
  # 10.0.0.1 is the "kubernetes" Service's address in --service-cluster-ip-range.
  [[ -f $PKI/apiserver.crt ]] || sign_cert apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,${KUBE_NODE_IP:+IP:$KUBE_NODE_IP,}DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  [[ -f $PKI/admin.crt ]] || sign_cert admin "/O=system:masters/CN=admin" \
    "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  # The controller-manager's own role (system:kube-controller-manager) may list and watch
  # everything but not delete; real clusters give each controller a service-account token
  # instead. system:masters keeps this test setup to one process and one certificate.
  [[ -f $PKI/controller-manager.crt ]] || sign_cert controller-manager \
    "/O=system:masters/CN=system:kube-controller-manager" \
    "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  if [[ ! -f $PKI/sa.key ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    chmod 600 "$PKI/sa.key"
  fi
}

# Writes a self-contained kubeconfig (certificates inline, so any client library can read it
# without resolving relative paths). $1: output file, $2: user name, $3: cert, $4: key.
write_kubeconfig() {
  local out=$1 user=$2 crt=$3 key=$4
  (umask 077 && : >"$out.tmp")
  cat >"$out.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_NAME
  cluster:
    server: $API_URL
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$crt")
    client-key-data: $(base64 -w0 <"$key")
contexts:
- name: $user@$CLUSTER_NAME
  context:
    cluster: $CLUSTER_NAME
    user: $user
current-context: $user@$CLUSTER_NAME
EOF
  mv "$out.tmp" "$out"
}

# ------------------------------------------------------------------------------ start/stop

check_ports_free() {
  local p
  for p in "$@"; do
    ! port_open "$p" || die "port $p is already in use (set KUBE_*_PORT to move it)"
  done
}

# Starts binary $1 in its own session, detached from our stdin/stdout (callers that capture our
# output must not hang), logging to $LOG_DIR/$1.log.
spawn() {
  local name=$1
  shift
  mkdir -p "$LOG_DIR"
  printf -- '----- %s: started by kube.sh\n' "$(date -u +%FT%TZ)" >>"$LOG_DIR/$name.log"
  setsid "$BIN_DIR/$name" "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  echo $! >"$(pid_file "$name")"
}

fail_with_logs() {
  local msg=$1 name=$2
  printf '[kube] error: %s\n' "$msg" >&2
  show_logs 40 "$name" >&2
  exit 1
}

# Polls command "$@" until it succeeds; fails with component $1's log tail if the component
# dies or KUBE_READY_TIMEOUT passes.
wait_until() {
  local name=$1 what=$2
  shift 2
  local deadline=$((SECONDS + KUBE_READY_TIMEOUT)) pid
  pid=$(<"$(pid_file "$name")")
  until "$@" >/dev/null 2>&1; do
    # kill -0, not running_pid: right after the spawn the process may not have exec'd the
    # binary yet, so its executable's name would not match.
    kill -0 "$pid" 2>/dev/null || fail_with_logs "$name exited during start-up" "$name"
    ((SECONDS < deadline)) || fail_with_logs "$name: no $what after ${KUBE_READY_TIMEOUT}s" "$name"
    sleep 0.2
  done
}

etcd_healthy() { curl -sf --max-time 2 "$ETCD_URL/health" | grep -q '"health":"true"'; }
apiserver_ready() { [[ $(admin_curl "$API_URL/readyz" 2>/dev/null) == ok ]]; }
kcm_healthy() { [[ $(curl -sk --max-time 2 "https://127.0.0.1:$KUBE_KCM_PORT/healthz") == ok ]]; }
gc_synced() { grep -q 'Proceeding to collect garbage' "$LOG_DIR/kube-controller-manager.log"; }

start_etcd() {
  local pid t0
  if pid=$(running_pid etcd); then
    say "etcd already running (pid $pid)"
    return 0
  fi
  check_ports_free "$KUBE_ETCD_PORT" "$KUBE_ETCD_PEER_PORT"
  t0=$(now_ms)
  local peer=http://127.0.0.1:$KUBE_ETCD_PEER_PORT fsync=()
  # Like envtest: without fsync etcd is much faster and a test cluster needs no durability.
  [[ $KUBE_ETCD_FSYNC == true ]] || fsync=(--unsafe-no-fsync=true)
  spawn etcd --name="$CLUSTER_NAME" --data-dir="$KUBE_DIR/etcd" \
    --listen-client-urls="$ETCD_URL" --advertise-client-urls="$ETCD_URL" \
    --listen-peer-urls="$peer" --initial-advertise-peer-urls="$peer" \
    --initial-cluster="$CLUSTER_NAME=$peer" "${fsync[@]}"
  wait_until etcd "health" etcd_healthy
  say "etcd $(etcd_version) up on $ETCD_URL (pid $(running_pid etcd)) in $(since "$t0")"
}

# Without a node: flags as envtest sets them (controller-runtime pkg/internal/testing/controlplane).
# ServiceAccount admission stays off: without a controller-manager no "default" service account
# exists and every pod create would fail. No endpoint reconciler: it would try every 10 s to
# publish 127.0.0.1 as the "kubernetes" Service's endpoint, which validation rejects (loopback).
# With a node (KUBE_NODE_IP): what a kubeadm control plane runs, so pods reach the API through
# the "kubernetes" Service and the kubelet gets only what the Node authorizer grants it.
apiserver_mode_flags() {
  if [[ -z $KUBE_NODE_IP ]]; then
    APISERVER_MODE_FLAGS=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1
      --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount --endpoint-reconciler-type=none)
  else
    APISERVER_MODE_FLAGS=(--bind-address="$KUBE_NODE_IP" --advertise-address="$KUBE_NODE_IP"
      --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction
      --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key"
      --kubelet-preferred-address-types=InternalIP)
  fi
}

# Explicit TLS files and a client CA so clients authenticate with certificates.
start_apiserver() {
  local pid t0
  if pid=$(running_pid kube-apiserver); then
    say "kube-apiserver already running (pid $pid)"
  else
    check_ports_free "$KUBE_API_PORT"
    t0=$(now_ms)
    apiserver_mode_flags
    spawn kube-apiserver \
      --etcd-servers="$ETCD_URL" --secure-port="$KUBE_API_PORT" \
      --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
      --client-ca-file="$PKI/ca.crt" \
      --service-cluster-ip-range=10.0.0.0/24 \
      --allow-privileged=true \
      --service-account-issuer="$API_URL/" \
      --service-account-key-file="$PKI/sa.pub" \
      --service-account-signing-key-file="$PKI/sa.key" \
      "${APISERVER_MODE_FLAGS[@]}"
    wait_until kube-apiserver "ok from /readyz" apiserver_ready
    say "kube-apiserver $KUBE_VERSION ready on $API_URL (pid $(running_pid kube-apiserver)) in $(since "$t0")"
  fi
  write_kubeconfig "$ADMIN_KUBECONFIG" admin "$PKI/admin.crt" "$PKI/admin.key"
}

start_controller_manager() {
  local pid t0
  if pid=$(running_pid kube-controller-manager); then
    say "kube-controller-manager already running (pid $pid)"
    return 0
  fi
  check_ports_free "$KUBE_KCM_PORT"
  t0=$(now_ms)
  local kc=$KUBE_DIR/controller-manager.kubeconfig
  write_kubeconfig "$kc" system:kube-controller-manager \
    "$PKI/controller-manager.crt" "$PKI/controller-manager.key"
  # Start from a fresh log so gc_synced sees this run's line, not an earlier one.
  mkdir -p "$LOG_DIR"
  : >"$LOG_DIR/kube-controller-manager.log"
  spawn kube-controller-manager --kubeconfig="$kc" \
    --controllers="$KUBE_CONTROLLERS" --leader-elect=false \
    --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
    --bind-address=127.0.0.1 --secure-port="$KUBE_KCM_PORT" --cert-dir="$KUBE_DIR/kcm-certs"
  wait_until kube-controller-manager "ok from /healthz" kcm_healthy
  # The garbage collector only acts once its informers over every resource have synced.
  if [[ ,$KUBE_CONTROLLERS, == *,garbage-collector-controller,* || ,$KUBE_CONTROLLERS, == *,garbagecollector,* ]]; then
    wait_until kube-controller-manager "synced garbage collector" gc_synced
  fi
  say "kube-controller-manager ($KUBE_CONTROLLERS) up (pid $(running_pid kube-controller-manager)) in $(since "$t0")"
}

cmd_start() {
  local with_gc=0
  case ${1:-} in
    '') ;;
    --with-gc) with_gc=1 ;;
    *) die "usage: start [--with-gc]" ;;
  esac
  if ((with_gc)); then binaries_present kube-controller-manager || cmd_build
  else binaries_present || cmd_build
  fi
  command -v openssl >/dev/null || die "openssl not found"
  command -v curl >/dev/null || die "curl not found"
  mkdir -p "$KUBE_DIR"
  ensure_pki
  start_etcd
  start_apiserver
  ((with_gc)) && start_controller_manager
  say "kubeconfig: $ADMIN_KUBECONFIG"
  echo "$ADMIN_KUBECONFIG"
}

# SIGTERM lets the apiserver drain requests and etcd close its WAL cleanly; SIGKILL after
# KUBE_STOP_TIMEOUT seconds so a hung process can't block a test run.
stop_one() {
  local name=$1 signal=${2:-TERM} pid
  if ! pid=$(running_pid "$name"); then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  stop_pid "$name" "$pid" "$KUBE_STOP_TIMEOUT" "$signal" "$(pid_file "$name")"
}

cmd_stop() {
  local signal
  case ${1:-} in
    '') signal=TERM ;;
    --kill) signal=KILL ;;
    *) die "usage: stop [--kill]" ;;
  esac
  # Clients of the apiserver first, etcd last.
  stop_one kube-controller-manager "$signal"
  stop_one kube-apiserver "$signal"
  stop_one etcd "$signal"
  say "stopped"
}

cmd_clean() {
  cmd_stop
  # Only ever a directory this script populated.
  if [[ -d $KUBE_DIR/pki || -d $KUBE_DIR/etcd || -d $KUBE_DIR/logs ]]; then
    rm -rf "$KUBE_DIR"
    say "removed $KUBE_DIR"
  fi
}

cmd_status() {
  local ok=0 pid
  if pid=$(running_pid etcd); then
    say "etcd: running, pid $pid, $ETCD_URL, RSS $(rss_mb "$pid") MB"
  else
    say "etcd: stopped"; ok=1
  fi
  if pid=$(running_pid kube-apiserver); then
    local ready
    ready=$(admin_curl "$API_URL/readyz" 2>/dev/null || echo "no answer")
    say "kube-apiserver: running, pid $pid, $API_URL, readyz: $ready, RSS $(rss_mb "$pid") MB"
  else
    say "kube-apiserver: stopped"; ok=1
  fi
  if pid=$(running_pid kube-controller-manager); then
    say "kube-controller-manager: running, pid $pid, RSS $(rss_mb "$pid") MB"
  fi
  say "kubeconfig: $ADMIN_KUBECONFIG"
  say "state dir: $KUBE_DIR"
  return $ok
}

# ------------------------------------------------------------------------------------- logs

show_logs() {
  local lines=$1 name f
  shift
  for name in "$@"; do
    f=$LOG_DIR/$name.log
    [[ -s $f ]] || continue
    echo "----- $f (last $lines lines)"
    tail -n "$lines" "$f"
  done
}

cmd_logs() {
  parse_log_args "$@"
  local follow=$LOG_FOLLOW lines=$LOG_LINES
  if ((follow)); then
    local files=() f
    for f in "$LOG_DIR"/{etcd,kube-apiserver,kube-controller-manager}.log; do [[ -e $f ]] && files+=("$f"); done
    ((${#files[@]})) || die "no logs in $LOG_DIR yet"
    exec tail -n "$lines" -F "${files[@]}"
  fi
  show_logs "$lines" etcd kube-apiserver kube-controller-manager
}

# ------------------------------------------------------------------------------------ users

# A second identity for RBAC tests: a client certificate with CN=NAME (the user name) and one
# O= per group. The apiserver needs no restart: it trusts everything the CA signs.
cmd_issue_user() {
  (($#)) || die "usage: issue-user NAME [GROUP...]"
  local name=$1 g subject=""
  shift
  [[ -f $PKI/ca.key ]] || die "no CA yet in $PKI (run 'start' first)"
  for g in "$name" "$@"; do
    [[ $g =~ ^[A-Za-z0-9:._@-]+$ ]] || die "unsupported character in '$g' (allowed: A-Z a-z 0-9 : . _ @ -)"
  done
  for g in "$@"; do subject+="/O=$g"; done
  subject+="/CN=$name"
  local stem=user-${name//:/_}
  sign_cert "$stem" "$subject" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  mkdir -p "$KUBE_DIR/users"
  local out=$KUBE_DIR/users/${name//:/_}.kubeconfig
  write_kubeconfig "$out" "$name" "$PKI/$stem.crt" "$PKI/$stem.key"
  echo "$out"
}

cmd_kubectl() {
  [[ -x $BIN_DIR/kubectl ]] || die "kubectl not built (run 'build')"
  KUBECONFIG=${KUBECONFIG:-$ADMIN_KUBECONFIG} exec "$BIN_DIR/kubectl" "$@"
}

# ------------------------------------------------------------------------------------- main


main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    build) cmd_build "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    clean) cmd_clean ;;
    kubeconfig) echo "$ADMIN_KUBECONFIG" ;;
    env) echo "export KUBECONFIG=$ADMIN_KUBECONFIG" ;;
    issue-user) cmd_issue_user "$@" ;;
    kubectl) cmd_kubectl "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
