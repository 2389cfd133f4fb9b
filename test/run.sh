#!/usr/bin/env bash
# `npm test`: installs what the tests need, starts the real components they run against,
# runs every test and stops what it started. Works from a fresh clone on a fresh machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# The test RocketMQ gets its own ports and a fresh store, so a developer's own instance
# (on the script's default ports) and old messages never interfere.
export RMQ_DIR=${RMQ_DIR:-$ROOT/.run/test-rocketmq}
export RMQ_NAMESRV_PORT=${RMQ_NAMESRV_PORT:-19877}
export RMQ_BROKER_PORT=${RMQ_BROKER_PORT:-20921}
export RMQ_PROXY_PORT=${RMQ_PROXY_PORT:-18091}
export RMQ_PROXY_REMOTING_PORT=${RMQ_PROXY_REMOTING_PORT:-18090}
export MQBRIDGE_TEST_ROCKETMQ=127.0.0.1:$RMQ_PROXY_PORT
# Likewise for the API server.
export KUBE_DIR=${KUBE_DIR:-$ROOT/.run/test-kube}
export KUBE_API_PORT=${KUBE_API_PORT:-16444}
export KUBE_ETCD_PORT=${KUBE_ETCD_PORT:-12381}
export KUBE_ETCD_PEER_PORT=${KUBE_ETCD_PEER_PORT:-12382}
export KUBE_KCM_PORT=${KUBE_KCM_PORT:-16258}
export KUBECONFIG=$KUBE_DIR/kubeconfig
# And for Redis, the shared session store of several bridge processes.
export REDIS_DIR=${REDIS_DIR:-$ROOT/.run/test-redis}
export REDIS_PORT=${REDIS_PORT:-16380}
export MQBRIDGE_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT
export REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-16391}
MQBRIDGE_TEST_REDIS_CLUSTER=$(bash test/env/redis.sh cluster-url)
export MQBRIDGE_TEST_REDIS_CLUSTER
RESULTS=$ROOT/.run/test-results
RMQ=test/env/rocketmq.sh
KUBE=test/env/kube.sh
REDIS=test/env/redis.sh
NODE=test/env/node.sh
# The real node (kubelet, containerd) runs its own control plane, apart from the tests' API server.
export NODE_DIR=${NODE_DIR:-$ROOT/.run/test-node}
NODE_IP=${NODE_IP:-10.244.0.1}
# Its pods reach a RocketMQ and a Redis of their own on the host, at the node's address (which
# exists while the node runs): the proxy hands its broker's address to clients in every topic
# route, so that must be one both pods and the host reach; the Redis is not on loopback, so it
# has a password. The node RocketMQ takes the test one's ports: that one is stopped by then.
NODE_RMQ_ENV=(RMQ_DIR="$ROOT/.run/test-node-rocketmq" RMQ_HOST="$NODE_IP")
export MQBRIDGE_NODE_ROCKETMQ=$NODE_IP:$RMQ_PROXY_PORT
NODE_REDIS_ENV=(REDIS_DIR="$ROOT/.run/test-node-redis" REDIS_PORT=16384 REDIS_HOST="$NODE_IP" REDIS_PASSWORD="node-$RANDOM$RANDOM")
MQBRIDGE_NODE_REDIS=$(env "${NODE_REDIS_ENV[@]}" bash test/env/redis.sh url)
export MQBRIDGE_NODE_REDIS

# Topics and consumer groups the integration tests use (test/integration/support/env.ts).
TEST_TOPICS=(IT_NORMAL:NORMAL IT_FIFO:FIFO IT_DOWN:NORMAL IT_P2P:NORMAL IT_FAULT:NORMAL IT_RELOAD:NORMAL
  IT_CLUSTER:NORMAL IT_CLUSTER_FAULT:NORMAL IT_CLUSTER_ROLL:NORMAL IT_ISOLATION:NORMAL)
TEST_GROUPS=(IT_APP_NORMAL IT_APP_FIFO:fifo IT_APP_DOWN IT_APP_P2P IT_APP_FAULT IT_APP_RELOAD
  IT_BRIDGE_UPLINK IT_BRIDGE_DOWNLINK IT_BRIDGE_DOWNLINK2 IT_BRIDGE_P2P IT_BRIDGE_REFUSALS
  IT_BRIDGE_FAULTS IT_BRIDGE_RELOAD IT_BRIDGE_SIGTERM IT_BRIDGE_TLS IT_BRIDGE_MTLS IT_BRIDGE_TOKENS
  IT_BRIDGE_OPAUTH IT_APP_CLUSTER IT_BRIDGE_CLUSTER IT_APP_CLUSTER_FAULT IT_BRIDGE_CLUSTER_FAULT
  IT_APP_CLUSTER_ROLL IT_BRIDGE_CLUSTER_ROLL IT_BRIDGE_ISOLATION IT_BRIDGE_ISOLATION_CLUSTER
  IT_BRIDGE_SUBSCRIBE IT_BRIDGE_SUBSCRIBE_CLUSTER)
# And those of the real node's suite (test/node/): examples/quickstart.yaml's, plus one of its own.
NODE_TOPICS=(DEMO_SENSORS:NORMAL DEMO_COMMANDS:NORMAL NODE_DEVICES:NORMAL)
NODE_GROUPS=(mqbridge-quickstart NODE_APP_SENSORS NODE_APP_DEVICES)

T0=$(date +%s)
step() { printf '\n==> [%3ss] %s\n' "$(($(date +%s) - T0))" "$*"; }

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

# Waits for the dpkg lock (a fresh machine may be running its own apt job) instead of failing.
APT=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
apt_install() {
  step "installing $* (apt)"
  as_root "${APT[@]}" install "$@" >/dev/null 2>&1 || {
    as_root "${APT[@]}" update >/dev/null
    as_root "${APT[@]}" install "$@" >/dev/null
  }
}

ensure_tools() {
  command -v mosquitto_pub >/dev/null || apt_install mosquitto-clients
  command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto ]] || apt_install mosquitto
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  command -v openssl >/dev/null || apt_install openssl
  command -v redis-server >/dev/null || apt_install redis-server
  # The Argo CD health check in docs/argocd/ is Lua 5.1, as Argo CD runs it.
  { command -v lua5.1 >/dev/null && lua5.1 -e 'require "cjson"' 2>/dev/null; } || apt_install lua5.1 lua-cjson
  command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]] ||
    { echo "Go >= 1.24 is needed to build kube-apiserver and etcd for the tests" >&2; exit 1; }
}

ensure_node_modules() {
  # npm ci when node_modules is missing or older than the lock file.
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    step "npm ci"
    npm ci --no-audit --no-fund
  fi
}

jest() {
  local project=$1
  shift
  node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects "$project" \
    --json --outputFile="$RESULTS/$project.json" "$@"
}

# Jest's own summary is not a line CI tools know, so end with the plain "N passed, N failed".
summary() {
  node -e '
    const fs = require("fs");
    let passed = 0, failed = 0;
    for (const f of process.argv.slice(1)) {
      if (!fs.existsSync(f)) continue;
      const r = JSON.parse(fs.readFileSync(f, "utf8"));
      passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
    }
    console.log(`\nsummary: ${passed} passed, ${failed} failed`);
  ' "$RESULTS/unit.json" "$RESULTS/integration.json" "$RESULTS/node.json"
}

stop_services() {
  local rc=$?
  step "stopping RocketMQ, Redis and the API server (and the demo, if a failure left it running)"
  bash demo/run.sh stop >/dev/null 2>&1 || true
  bash "$RMQ" stop --kill || true
  bash "$REDIS" stop --kill || true
  bash "$REDIS" stop-cluster || true
  bash "$KUBE" stop --kill || true
  env "${NODE_REDIS_ENV[@]}" bash "$REDIS" stop --kill >/dev/null 2>&1 || true
  env "${NODE_RMQ_ENV[@]}" bash "$RMQ" stop --kill >/dev/null 2>&1 || true
  [[ $(id -u) != 0 ]] || bash "$NODE" stop --kill >/dev/null 2>&1 || true
  summary || true
  exit "$rc"
}

main() {
  ensure_tools
  ensure_node_modules
  rm -rf "$RESULTS" && mkdir -p "$RESULTS"

  step "build and lint"
  npm run --silent build
  npm run --silent lint

  step "unit tests"
  jest unit

  step "building kube-apiserver, etcd, kubectl, kube-controller-manager and helm (cached after the first run)"
  bash "$KUBE" build
  bash test/env/helm.sh build
  MQBRIDGE_HELM=$(bash test/env/helm.sh path)
  export MQBRIDGE_HELM

  trap stop_services EXIT
  step "starting RocketMQ (name server, broker, gRPC proxy)"
  bash "$RMQ" stop --kill >/dev/null 2>&1 || true
  rm -rf "$RMQ_DIR"
  bash "$RMQ" start
  bash "$RMQ" create-topic "${TEST_TOPICS[@]}"
  bash "$RMQ" create-group "${TEST_GROUPS[@]}"

  step "starting Redis"
  bash "$REDIS" stop --kill >/dev/null 2>&1 || true
  bash "$REDIS" start
  bash "$REDIS" start-cluster

  step "starting kube-apiserver and etcd"
  bash "$KUBE" stop --kill >/dev/null 2>&1 || true
  rm -rf "$KUBE_DIR"
  bash "$KUBE" start
  # CRDs first: the garbage collector picks up resource types present when it starts at once.
  bash "$KUBE" kubectl apply --server-side -f crds/
  bash "$KUBE" start --with-gc

  step "integration tests against the real RocketMQ and API server"
  jest integration --runInBand --testTimeout=120000 --forceExit

  step "a real node: images from the Dockerfiles (cached), containerd, kubelet, kube-proxy; RocketMQ and Redis on its address"
  bash "$RMQ" stop --kill
  bash "$NODE" stop --kill >/dev/null 2>&1 || true
  rm -rf "$NODE_DIR" "${NODE_RMQ_ENV[0]#RMQ_DIR=}"
  bash "$NODE" start
  env "${NODE_RMQ_ENV[@]}" bash "$RMQ" start
  env "${NODE_RMQ_ENV[@]}" bash "$RMQ" create-topic "${NODE_TOPICS[@]}" BENCH_PROPAGATION:NORMAL
  env "${NODE_RMQ_ENV[@]}" bash "$RMQ" create-group "${NODE_GROUPS[@]}" BENCH_PROPAGATION_BRIDGE
  env "${NODE_REDIS_ENV[@]}" bash "$REDIS" start

  step "the node suite: helm install, the quickstart, a device through the Service, scale, roll, drain"
  MQBRIDGE_TEST_ROCKETMQ=$MQBRIDGE_NODE_ROCKETMQ jest node --runInBand --testTimeout=300000 --forceExit
  step "binding propagation on the real node, a short run (numbers are not checked; see npm run bench)"
  BENCH_REUSE_ROCKETMQ=1 BENCH_RMQ_DIR=${NODE_RMQ_ENV[0]#RMQ_DIR=} BENCH_RMQ_HOST=$NODE_IP BENCH_RMQ_NAMESRV_PORT=$RMQ_NAMESRV_PORT \
    BENCH_RMQ_BROKER_PORT=$RMQ_BROKER_PORT BENCH_RMQ_PROXY_PORT=$RMQ_PROXY_PORT BENCH_RMQ_PROXY_REMOTING_PORT=$RMQ_PROXY_REMOTING_PORT \
    node dist/bench/run.js node-propagation --quick
  env "${NODE_REDIS_ENV[@]}" bash "$REDIS" stop
  env "${NODE_RMQ_ENV[@]}" bash "$RMQ" stop
  bash "$NODE" stop --kill

  step "npm run demo, end to end (then stopped)"
  bash demo/run.sh
  bash demo/run.sh stop

  step "benchmark harness smoke run (numbers are not checked; see npm run bench)"
  node dist/bench/run.js all --quick
}

main "$@"
