#!/usr/bin/env bash
# Runs a real Redis (Debian's redis-server) on loopback for tests: the shared session store
# and token revocation list of several bridge processes.
#
# Usage: test/env/redis.sh <command> [args]
#   start                 start redis-server with fresh state, wait until it answers PING
#   stop [--kill]         stop it (--kill: SIGKILL, a crash)
#   restart               stop and start again on the same data (appendonly file kept)
#   status                exit 0 only if it runs
#   cli [ARGS...]         redis-cli against it
#   url                   print its redis:// URL
#   start-cluster         a 3-node Redis Cluster (no replicas) with fresh state, for the Cluster tests
#   stop-cluster          stop it
#   cluster-url           print its seed URLs, comma-separated
#
# Environment (defaults in brackets):
#   REDIS_DIR [$PWD/.run/redis]   state: config, data, log, pid file (the Cluster: $REDIS_DIR-cluster)
#   REDIS_PORT [16379]
#   REDIS_HOST [127.0.0.1]        the address it binds (the real node's pods reach the host at its node IP)
#   REDIS_PASSWORD []             requirepass; set it whenever REDIS_HOST is not loopback
#   REDIS_CLUSTER_PORT [16381]    first Cluster node; the others take the next two ports
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=redis
# shellcheck source=lib.sh
source "$HERE/lib.sh"

REDIS_DIR=$(realpath -m "${REDIS_DIR:-$PWD/.run/redis}")
REDIS_PORT=${REDIS_PORT:-16379}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PASSWORD=${REDIS_PASSWORD:-}
PID_FILE=$REDIS_DIR/redis.pid
CLUSTER_DIR=$REDIS_DIR-cluster
REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-16381}
CLUSTER_PORTS=("$REDIS_CLUSTER_PORT" "$((REDIS_CLUSTER_PORT + 1))" "$((REDIS_CLUSTER_PORT + 2))")

server_bin() {
  command -v redis-server 2>/dev/null || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; } || die "redis-server not found: install Debian's redis-server (test/run.sh does)"
}

# REDISCLI_AUTH instead of -a: the password stays out of the process list.
cli() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }

running() { [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

write_config() {
  mkdir -p "$REDIS_DIR/data"
  # appendonly with fsync every second: a restart keeps the sessions, as a production Redis would.
  cat >"$REDIS_DIR/redis.conf" <<EOF
bind $REDIS_HOST
port $REDIS_PORT
${REDIS_PASSWORD:+requirepass $REDIS_PASSWORD}
protected-mode yes
daemonize yes
pidfile $PID_FILE
logfile $REDIS_DIR/redis.log
dir $REDIS_DIR/data
appendonly yes
appendfsync everysec
save ""
maxclients 10000
EOF
}

start() {
  local fresh=${1:-fresh} t0
  t0=$(now_ms)
  running && die "already running (pid $(cat "$PID_FILE"))"
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken"
  [[ $fresh == fresh ]] && rm -rf "$REDIS_DIR"
  write_config
  "$(server_bin)" "$REDIS_DIR/redis.conf"
  for _ in $(seq 100); do
    if [[ $(cli ping 2>/dev/null) == PONG ]]; then
      say "ready on $REDIS_HOST:$REDIS_PORT (pid $(cat "$PID_FILE")) in $(since "$t0")"
      return
    fi
    sleep 0.1
  done
  tail -20 "$REDIS_DIR/redis.log" >&2 || true
  die "did not answer PING within 10s"
}

stop() {
  running || { say "not running"; return; }
  if [[ ${1:-} == --kill ]]; then stop_pid redis "$(cat "$PID_FILE")" 5 KILL "$PID_FILE"
  else stop_pid redis "$(cat "$PID_FILE")" 10 TERM "$PID_FILE"
  fi
}

start_cluster() {
  local t0 port dir
  t0=$(now_ms)
  stop_cluster >/dev/null
  rm -rf "$CLUSTER_DIR"
  for port in "${CLUSTER_PORTS[@]}"; do
    port_open "$port" && die "port $port is taken"
    dir=$CLUSTER_DIR/$port
    mkdir -p "$dir"
    printf '%s\n' "bind 127.0.0.1" "port $port" "daemonize yes" "pidfile $dir/redis.pid" "logfile $dir/redis.log" \
      "dir $dir" "cluster-enabled yes" "cluster-config-file nodes.conf" "cluster-node-timeout 5000" 'save ""' >"$dir/redis.conf"
    "$(server_bin)" "$dir/redis.conf"
  done
  for port in "${CLUSTER_PORTS[@]}"; do
    for _ in $(seq 100); do [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
  done
  redis-cli --cluster create "${CLUSTER_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$CLUSTER_DIR/create.log" 2>&1 ||
    { cat "$CLUSTER_DIR/create.log" >&2; die "could not create the Cluster"; }
  for _ in $(seq 200); do
    if redis-cli -p "$REDIS_CLUSTER_PORT" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
      say "Cluster ready on 127.0.0.1:${CLUSTER_PORTS[*]} in $(since "$t0")"
      return
    fi
    sleep 0.1
  done
  die "the Cluster did not reach state ok within 20s"
}

stop_cluster() {
  local port pidfile
  for port in "${CLUSTER_PORTS[@]}"; do
    pidfile=$CLUSTER_DIR/$port/redis.pid
    [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && stop_pid "redis cluster node $port" "$(cat "$pidfile")" 5 KILL "$pidfile"
  done
  return 0
}

case ${1:-} in
  start-cluster) start_cluster ;;
  stop-cluster) stop_cluster ;;
  cluster-url) (IFS=,; echo "${CLUSTER_PORTS[*]/#/redis://127.0.0.1:}") ;;
  start) start fresh ;;
  stop) shift; stop "$@" ;;
  restart) stop; start keep ;;
  status) running ;;
  cli) shift; cli "$@" ;;
  url) echo "redis://${REDIS_PASSWORD:+:$REDIS_PASSWORD@}$REDIS_HOST:$REDIS_PORT" ;;
  *) usage; exit 2 ;;
esac
