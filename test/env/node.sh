#!/usr/bin/env bash
# A real single-node Kubernetes cluster for the end-to-end tests: its own etcd, kube-apiserver and
# kube-controller-manager (test/env/kube.sh with every controller), kube-scheduler, a kubelet on
# containerd and runc, kube-proxy in iptables mode and a CNI bridge network. The product images are
# built from the project's Dockerfiles, unchanged, with buildah (no Docker engine, no registry) on a
# base assembled locally with mmdebstrap, and imported into containerd. Needs root.
#
# Usage: test/env/node.sh <command> [args]
#   install           apt-get install containerd, runc, the CNI plugins, buildah, mmdebstrap,
#                     iptables and conntrack when missing
#   images            build (or reuse from the cache) the base, pause, operator and bridge images;
#                     prints the two product image references
#   start             install, images, then the cluster; waits for the node to be Ready and
#                     writes the admin kubeconfig (`kubeconfig` prints its path)
#   stop [--kill]     stop the pods, every component, the bridge and the iptables rules
#   status            what runs; exits 0 only when the kubelet runs and the node is Ready
#   logs [-f] [LINES] the node components' logs
#   kubeconfig        print the admin kubeconfig's path
#   images-ref        print the product image references the running node has (else those the
#                     current source tree builds)
#   kubectl ARGS...   the cached kubectl against this cluster
#
# Environment (defaults in brackets):
#   NODE_DIR [$PWD/.run/node]        state of this cluster: containerd's root, kubelet, logs
#   MQBRIDGE_CACHE [~/.cache/mqbridge]  images in <cache>/images (buildah's storage, OCI archives)
#   NODE_IP [10.244.0.1]             the node's address: the CNI bridge's gateway, on which the API
#                                    server listens and pods reach services of the host
#   NODE_POD_CIDR [10.244.0.0/24]    pod addresses
#   NODE_NAME [mqbridge-node]
#   NODE_KUBE_API_PORT [16446]  NODE_ETCD_PORT [12393]  NODE_ETCD_PEER_PORT [12394]  NODE_KCM_PORT [16260]
#   NODE_KUBELET_PORT [20250]        kubelet API; healthz on 20248, kube-proxy on 20249/20256,
#                                    kube-scheduler on 20259
#   NODE_READY_TIMEOUT [180]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

NODE_DIR=$(realpath -m "${NODE_DIR:-$ROOT/.run/node}")
CACHE=${MQBRIDGE_CACHE:-$HOME/.cache/mqbridge}
IMAGE_CACHE=$CACHE/images
NODE_IP=${NODE_IP:-10.244.0.1}
NODE_POD_CIDR=${NODE_POD_CIDR:-10.244.0.0/24}
NODE_NAME=${NODE_NAME:-mqbridge-node}
NODE_KUBELET_PORT=${NODE_KUBELET_PORT:-20250}
NODE_READY_TIMEOUT=${NODE_READY_TIMEOUT:-180}
BRIDGE_DEV=mqbr0
LOG_DIR=$NODE_DIR/logs
CONTAINERD_SOCK=$NODE_DIR/containerd/containerd.sock

# The control plane of this cluster: kube.sh with its own state, ports and every controller
# (Deployments, ReplicaSets, EndpointSlices, the disruption controller for drains, ...).
export KUBE_DIR=$NODE_DIR/kube
export KUBE_NODE_IP=$NODE_IP
export KUBE_API_PORT=${NODE_KUBE_API_PORT:-16446}
export KUBE_ETCD_PORT=${NODE_ETCD_PORT:-12393}
export KUBE_ETCD_PEER_PORT=${NODE_ETCD_PEER_PORT:-12394}
export KUBE_KCM_PORT=${NODE_KCM_PORT:-16260}
export KUBE_CONTROLLERS='*'
KUBE=test/env/kube.sh
KUBECONFIG_PATH=$KUBE_DIR/kubeconfig

LOG_TAG=node
# shellcheck source=test/env/lib.sh
source test/env/lib.sh

# Where kube.sh caches the binaries it builds.
BIN_DIR=$CACHE/kube/${KUBE_VERSION:-v1.34.4}/bin

# ---------------------------------------------------------------------------------- install

need_root() { [[ $(id -u) == 0 ]] || die "the node needs root (containers, network namespaces, iptables)"; }

cmd_install() {
  need_root
  local missing=() c
  for c in containerd:containerd runc:runc buildah:buildah mmdebstrap:mmdebstrap iptables:iptables conntrack:conntrack; do
    command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
  done
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]} (apt)"
  # DPkg::Lock::Timeout: wait for another apt job rather than fail.
  apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" >/dev/null 2>&1 || {
    apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
    apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" >/dev/null
  }
}

# ----------------------------------------------------------------------------------- images

# buildah keeps its layers in the cache, so unchanged stages (npm ci) are reused across runs.
bah() { buildah --root "$IMAGE_CACHE/storage" --runroot "$IMAGE_CACHE/run" --storage-driver overlay "$@"; }

# Everything the base is made of: Debian's suite, the machine's Node and npm, its CA bundle.
base_key() {
  { echo "bookworm minbase r1"; node --version; npm --version; sha256sum </etc/ssl/certs/ca-certificates.crt; } |
    sha256sum | cut -c1-12
}

# The base stands in for node:20-bookworm-slim: Debian bookworm and this machine's Node 20 (the
# one Debian serves is 18). The machine reaches the npm registry through TLS only its own CA
# bundle trusts, so the base carries that bundle; images built for users do not need it.
build_base() {
  local ref=$1 tar=$IMAGE_CACHE/base-rootfs.tar c mnt
  say "assembling the base image $ref (mmdebstrap bookworm + Node $(node --version))"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$tar" >"$IMAGE_CACHE/mmdebstrap.log" 2>&1 ||
    { tail -20 "$IMAGE_CACHE/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
  c=$(bah from scratch)
  mnt=$(bah mount "$c")
  tar -C "$mnt" -xf "$tar"
  install -m 0755 "$(readlink -f "$(command -v node)")" "$mnt/usr/bin/node"
  mkdir -p "$mnt/usr/lib/node_modules"
  cp -a "$(npm root -g)/npm" "$mnt/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/bin/npx"
  cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
  bah umount "$c" >/dev/null
  bah config --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd '["node"]' "$c"
  bah commit --quiet "$c" "$ref" >/dev/null
  bah rm "$c" >/dev/null
  rm -f "$tar"
}

# The pod sandbox ("pause") image: the base with a process that only waits. containerd stops a
# sandbox with SIGKILL, so it needs no signal handling.
build_pause() {
  local ref=$1 base=$2 c
  c=$(bah from "$base")
  bah config --entrypoint '["/bin/sleep", "infinity"]' --cmd '[]' "$c"
  bah commit --quiet "$c" "$ref" >/dev/null
  bah rm "$c" >/dev/null
}

# The build context's content (what git tracks or would track), so a product image is rebuilt
# exactly when the code changes.
source_key() {
  git ls-files -co --exclude-standard -z | xargs -0 sha256sum 2>/dev/null | sha256sum | cut -c1-12
}

have_image() { bah inspect --type image "$1" >/dev/null 2>&1; }
base_ref() { echo "localhost/mqbridge-test/node-base:$(base_key)"; }
pause_ref() { echo "localhost/mqbridge-test/pause:$(base_key)"; }
# Computed once per command (main): a tree edited during a build must not give the import
# step another tag than the build step.
product_ref() { echo "localhost/mqbridge/$1:src-$SOURCE_KEY"; }

build_product() {
  local name=$1 ref=$2 base=$3 t0
  t0=$(now_ms)
  say "building $ref from Dockerfile.$name (NODE_IMAGE=$base)"
  bah bud --quiet --layers --network host --build-arg "NODE_IMAGE=$base" \
    -f "Dockerfile.$name" -t "$ref" . >"$IMAGE_CACHE/build-$name.log" 2>&1 ||
    { tail -30 "$IMAGE_CACHE/build-$name.log" >&2; die "building Dockerfile.$name failed"; }
  say "$ref built in $(since "$t0")"
}

# An OCI archive per image, next to the storage, for containerd to import.
archive_of() { echo "$IMAGE_CACHE/archives/${1//[\/:]/_}.tar"; }
export_image() {
  local ref=$1 out
  out=$(archive_of "$ref")
  [[ -s $out ]] && return 0
  mkdir -p "$(dirname "$out")"
  bah push --quiet "$ref" "oci-archive:$out.tmp:$ref" >/dev/null
  mv "$out.tmp" "$out"
}

cmd_images() {
  need_root
  cmd_install
  mkdir -p "$IMAGE_CACHE"
  exec 8>"$IMAGE_CACHE/.lock"
  flock 8
  local base pause ref name
  base=$(base_ref) pause=$(pause_ref)
  have_image "$base" || build_base "$base"
  have_image "$pause" || build_pause "$pause" "$base"
  export_image "$pause"
  for name in operator bridge; do
    ref=$(product_ref "$name")
    have_image "$ref" || build_product "$name" "$ref" "$base"
    export_image "$ref"
  done
  # Archives of older source trees are of no use; the layers stay for the next build.
  find "$IMAGE_CACHE/archives" -name 'localhost_mqbridge_*' -mtime +1 -delete 2>/dev/null || true
  flock -u 8
  echo "$(product_ref operator) $(product_ref bridge)"
}

# The running node's images: the tree may have changed since it started, and a tag built for
# the new tree would not be on the node.
cmd_images_ref() {
  if [[ -s $NODE_DIR/images.ref ]] && running_pid containerd >/dev/null; then cat "$NODE_DIR/images.ref"
  else echo "$(product_ref operator) $(product_ref bridge)"; fi
}

# --------------------------------------------------------------------------------- network

# The bridge exists before anything starts so the API server can listen on the node's address;
# the CNI bridge plugin then attaches pods to it.
ensure_bridge() {
  if ! ip link show "$BRIDGE_DEV" >/dev/null 2>&1; then
    ip link add "$BRIDGE_DEV" type bridge
  fi
  ip addr show dev "$BRIDGE_DEV" | grep -q " $NODE_IP/" || ip addr add "$NODE_IP/${NODE_POD_CIDR#*/}" dev "$BRIDGE_DEV"
  ip link set "$BRIDGE_DEV" up
  # kube-proxy's rules see bridged traffic (pod to Service to a pod on the same bridge).
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
}

write_cni_config() {
  mkdir -p "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
  cat >"$NODE_DIR/cni/net.d/10-mqbridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "mqbridge-node",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE_DEV", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
                "ranges": [[{ "subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

# ------------------------------------------------------------------------------- processes

pid_file() { echo "$NODE_DIR/$1.pid"; }
running_pid() {
  local f=$NODE_DIR/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}
spawn() {
  local name=$1
  shift
  mkdir -p "$LOG_DIR"
  printf -- '----- %s: started by node.sh\n' "$(date -u +%FT%TZ)" >>"$LOG_DIR/$name.log"
  setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  echo $! >"$(pid_file "$name")"
}
wait_for() {
  local what=$1 name=$2 deadline=$((SECONDS + NODE_READY_TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    running_pid "$name" >/dev/null || { tail -30 "$LOG_DIR/$name.log" >&2; die "$name exited while waiting for $what"; }
    ((SECONDS < deadline)) || { tail -30 "$LOG_DIR/$name.log" >&2; die "no $what after ${NODE_READY_TIMEOUT}s"; }
    sleep 0.5
  done
}

ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

start_containerd() {
  running_pid containerd >/dev/null && return 0
  local d=$NODE_DIR/containerd
  mkdir -p "$d"
  # Its own root, state and socket: nothing of a containerd the machine may run is touched.
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(pause_ref)"
  # This machine's root cannot lower oom_score_adj (the kubelet asks -998 for sandboxes, and
  # runc's init then dies); clamp it to containerd's own value instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
EOF
  spawn containerd containerd --config "$d/config.toml"
  wait_for "containerd socket" containerd ctr_ version
  local ref
  for ref in "$(pause_ref)" $(product_ref operator) $(product_ref bridge); do
    ctr_ images import "$(archive_of "$ref")" >/dev/null
  done
  echo "$(product_ref operator) $(product_ref bridge)" >"$NODE_DIR/images.ref"
  say "containerd $(containerd --version | awk '{print $3}') up, images imported"
}

# Client certificates from the cluster's CA; kube.sh issue-user prints the kubeconfig.
issue() { bash "$KUBE" issue-user "$@" | tail -1; }

start_kubelet() {
  running_pid kubelet >/dev/null && return 0
  local d=$NODE_DIR/kubelet kc
  mkdir -p "$d"
  kc=$(issue "system:node:$NODE_NAME" system:nodes)
  # cgroupfs: this kernel mounts cgroup v1 and no systemd manages the node. syncFrequency is
  # left at the default (1 min) a production kubelet has: it sets how late a mounted ConfigMap
  # changes, the propagation that bench/scenarios/node-propagation.ts measures. The eviction
  # thresholds are low because the node shares a disk with everything else on the machine.
  cat >"$d/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $NODE_KUBELET_PORT
healthzBindAddress: 127.0.0.1
healthzPort: 20248
readOnlyPort: 0
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $KUBE_DIR/pki/ca.crt }
authorization: { mode: Webhook }
resolvConf: /etc/resolv.conf
evictionHard: { memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 60
EOF
  spawn kubelet "$BIN_DIR/kubelet" --config="$d/config.yaml" --kubeconfig="$kc" \
    --root-dir="$d/root" --cert-dir="$d/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" -v=1
  wait_for "kubelet healthz" kubelet curl -sf http://127.0.0.1:20248/healthz
}

start_scheduler() {
  running_pid kube-scheduler >/dev/null && return 0
  local kc
  kc=$(issue system:kube-scheduler)
  spawn kube-scheduler "$BIN_DIR/kube-scheduler" --kubeconfig="$kc" --authentication-kubeconfig="$kc" \
    --authorization-kubeconfig="$kc" --leader-elect=false --bind-address=127.0.0.1 --secure-port=20259
  wait_for "kube-scheduler healthz" kube-scheduler curl -skf https://127.0.0.1:20259/healthz
}

start_proxy() {
  running_pid kube-proxy >/dev/null && return 0
  local kc
  kc=$(issue system:kube-proxy)
  # --masquerade-all: a pod reaching a Service backed by a pod on the same bridge gets its reply
  # back through the host, where conntrack undoes the DNAT.
  spawn kube-proxy "$BIN_DIR/kube-proxy" --kubeconfig="$kc" --proxy-mode=iptables \
    --hostname-override="$NODE_NAME" --cluster-cidr="$NODE_POD_CIDR" --masquerade-all \
    --healthz-bind-address=127.0.0.1:20256 --metrics-bind-address=127.0.0.1:20249
  wait_for "kube-proxy healthz" kube-proxy curl -sf http://127.0.0.1:20256/healthz
}

kubectl_() { KUBECONFIG=$KUBECONFIG_PATH "$BIN_DIR/kubectl" "$@"; }
node_ready() {
  [[ $(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

cmd_start() {
  need_root
  local t0
  t0=$(now_ms)
  cmd_images >/dev/null
  bash "$KUBE" build >/dev/null
  mkdir -p "$NODE_DIR"
  ensure_bridge
  write_cni_config
  bash "$KUBE" start --with-gc >/dev/null
  start_containerd
  start_scheduler
  start_kubelet
  wait_for "Ready node $NODE_NAME" kubelet node_ready
  # kube-proxy reads its node's address from the Node object, and is healthy only once it exists.
  start_proxy
  say "node $NODE_NAME Ready at $NODE_IP in $(since "$t0"); kubeconfig: $KUBECONFIG_PATH"
}

# ------------------------------------------------------------------------------------ stop

stop_component() {
  local name=$1 signal=$2 pid
  pid=$(running_pid "$name") || { rm -f "$(pid_file "$name")"; return 0; }
  stop_pid "$name" "$pid" 20 "$signal" "$(pid_file "$name")"
}

# Pods outlive the kubelet (their shims are separate processes): kill their tasks, then the
# shims, unmount what the kubelet and containerd mounted and remove the pods' network
# namespaces: only those named in this node's container bundles, never another runtime's.
stop_pods() {
  local netns=() m
  mapfile -t netns < <(cat "$NODE_DIR"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/config.json 2>/dev/null |
    grep -o '/var/run/netns/cni-[0-9a-f-]*' | sort -u)
  if [[ -S $CONTAINERD_SOCK ]] && running_pid containerd >/dev/null; then
    local t
    for t in $(ctr_ tasks list -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
  fi
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
  for m in $(awk -v d="$NODE_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  for m in "${netns[@]}"; do ip netns delete "${m##*/}" 2>/dev/null || true; done
}

cmd_stop() {
  local signal=TERM
  [[ ${1:-} == --kill ]] && signal=KILL
  need_root
  stop_component kubelet "$signal"
  stop_pods
  stop_component kube-proxy "$signal"
  stop_component kube-scheduler "$signal"
  stop_component containerd "$signal"
  stop_pods
  [[ -x $BIN_DIR/kube-proxy ]] && "$BIN_DIR/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # The bridge plugin's masquerade rules carry the network's name in their comment.
  # (No such rule left is fine: grep's status must not end the stop under pipefail.)
  iptables -t nat -S POSTROUTING 2>/dev/null | { grep -F 'name: \"mqbridge-node\"' || true; } | sed 's/^-A/-D/' |
    while read -r rule; do eval "iptables -t nat $rule" 2>/dev/null || true; done
  ip link delete "$BRIDGE_DEV" 2>/dev/null || true
  bash "$KUBE" stop ${1:+"$1"} >/dev/null
  say "stopped"
}

cmd_status() {
  local name pid
  for name in containerd kubelet kube-scheduler kube-proxy; do
    if pid=$(running_pid "$name"); then say "$name: running, pid $pid, RSS $(rss_mb "$pid") MB"
    else say "$name: stopped"; fi
  done
  bash "$KUBE" status || true
  kubectl_ get nodes -o wide 2>/dev/null || true
  running_pid kubelet >/dev/null && node_ready 2>/dev/null
}

cmd_logs() {
  parse_log_args "$@"
  local files=() f
  for f in "$LOG_DIR"/{containerd,kubelet,kube-scheduler,kube-proxy}.log; do [[ -e $f ]] && files+=("$f"); done
  ((${#files[@]})) || die "no logs in $LOG_DIR yet"
  if ((LOG_FOLLOW)); then exec tail -n "$LOG_LINES" -F "${files[@]}"; fi
  for f in "${files[@]}"; do echo "----- $f"; tail -n "$LOG_LINES" "$f"; done
  bash "$KUBE" logs "$LOG_LINES"
}

main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in images | images-ref | start) SOURCE_KEY=$(source_key) ;; esac
  case $cmd in
    install) cmd_install ;;
    images) cmd_images ;;
    images-ref) cmd_images_ref ;;
    start) cmd_start ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    kubeconfig) echo "$KUBECONFIG_PATH" ;;
    kubectl) kubectl_ "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
