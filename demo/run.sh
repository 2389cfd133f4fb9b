#!/usr/bin/env bash
# `npm run demo`: the whole system on one machine with no cluster. Starts RocketMQ, a real
# kube-apiserver with etcd, the operator and the local pod runner (a development stand-in for
# the kubelet), applies examples/quickstart.yaml and shows messages flowing both ways.
# `npm run demo:stop` (or `bash demo/run.sh stop`) stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DEMO_DIR=$ROOT/.run/demo
# Fixed ports (examples/quickstart.yaml names the RocketMQ endpoint), whatever the caller's
# environment says: `npm test` runs the demo while its own test services still run.
export RMQ_DIR=$ROOT/.run/demo-rocketmq RMQ_NAMESRV_PORT=19876 RMQ_BROKER_PORT=20911 RMQ_PROXY_PORT=18081 RMQ_PROXY_REMOTING_PORT=18080
export KUBE_DIR=$ROOT/.run/demo-kube KUBE_API_PORT=16443 KUBE_ETCD_PORT=12379 KUBE_ETCD_PEER_PORT=12380 KUBE_KCM_PORT=16257
export KUBECONFIG=$KUBE_DIR/kubeconfig
RMQ=test/env/rocketmq.sh
KUBE=test/env/kube.sh

T0=$(date +%s)
STEP=0
STEPS=8
step() {
  STEP=$((STEP + 1))
  printf '\n\033[1m[%d/%d] %s\033[0m  (%ss so far)\n' "$STEP" "$STEPS" "$*" "$(($(date +%s) - T0))"
}

stop_bg() {
  local name=$1 pid
  [[ -f $DEMO_DIR/$name.pid ]] || return 0
  pid=$(cat "$DEMO_DIR/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    # The pod runner lets its bridge pods finish their graceful stop (up to ~25 s).
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DEMO_DIR/$name.pid"
}

start_bg() {
  local name=$1
  shift
  stop_bg "$name"
  nohup "$@" >"$DEMO_DIR/$name.log" 2>&1 &
  echo $! >"$DEMO_DIR/$name.pid"
}

stop_all() {
  stop_bg pod-runner
  # Bridge pods of a pod runner that was killed outright.
  pkill -f -- "--config $DEMO_DIR/pods/" 2>/dev/null || true
  stop_bg operator
  bash "$KUBE" stop || true
  bash "$RMQ" stop || true
  echo "demo stopped"
}

if [[ ${1:-} == stop ]]; then
  stop_all
  exit 0
fi

mkdir -p "$DEMO_DIR"
step "npm packages and build"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build

step "RocketMQ 5.5 from Maven Central (first run downloads the jars)"
bash "$RMQ" start
bash "$RMQ" create-topic DEMO_SENSORS:NORMAL DEMO_COMMANDS:NORMAL
bash "$RMQ" create-group mqbridge-quickstart demo-app

step "kube-apiserver and etcd (first run builds them from the Go module proxy: several minutes)"
bash "$KUBE" build
bash "$KUBE" start
bash "$KUBE" kubectl apply --server-side -f crds/ >/dev/null
bash "$KUBE" start --with-gc

step "operator"
start_bg operator node dist/operator/main.js --kubeconfig "$KUBECONFIG" --http-port 18088 --bridge-image mqbridge/bridge:dev
echo "operator running (logs: .run/demo/operator.log, metrics: http://127.0.0.1:18088/metrics)"

step "local pod runner (development stand-in for the kubelet)"
POD_RUNNER_DIR=$DEMO_DIR/pods start_bg pod-runner node dist/demo/pod-runner.js
echo "pod runner running (logs: .run/demo/pod-runner.log)"

step "kubectl apply -f examples/quickstart.yaml"
bash "$KUBE" kubectl apply -f examples/quickstart.yaml
bash "$KUBE" kubectl wait --for=condition=Ready --timeout=120s mqttbridge/quickstart
bash "$KUBE" kubectl get mqttbridges,topicbindings

step "a message each way"
node dist/demo/show.js

step "ready"
KUBECTL=$(find "${MQBRIDGE_CACHE:-$HOME/.cache/mqbridge}/kube" -path "*/bin/kubectl" | head -1)
cat <<EOT
The demo keeps running. Try it by hand:

  export KUBECONFIG=$KUBECONFIG
  alias kubectl=$KUBECTL
  kubectl get mqttbridges,topicbindings,deployments,services,configmaps
  mosquitto_sub -p 1883 -t 'commands/#' -v &
  mosquitto_pub -p 1883 -i 'GID_demo@@@dev2' -q 1 -t sensors/room2/humidity -m 40
  kubectl apply -f - <<'YAML'
  apiVersion: mqbridge.dev/v1alpha1
  kind: TopicBinding
  metadata: {name: alerts, namespace: default}
  spec: {bridge: quickstart, mqttParentTopic: alerts, rocketmqTopic: DEMO_SENSORS, direction: MqttToRocketmq}
  YAML
  # More than one bridge pod needs spec.sessionStore.redis (a Redis all pods share), e.g.
  #   kubectl patch mqttbridge/quickstart --type=merge -p '{"spec":{"sessionStore":{"redis":{"url":"redis://127.0.0.1:6379"}}}}'
  kubectl scale mqttbridge/quickstart --replicas=2     # then the pod runner starts a second bridge on the next free port

Bridge pods' logs: .run/demo/pods/*/bridge.log. Stop everything: npm run demo:stop
Took $(($(date +%s) - T0)) s.
EOT
