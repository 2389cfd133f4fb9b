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
#
# Environment (defaults in brackets):
#   REDIS_DIR [$PWD/.run/redis]   state: config, data, log, pid file
#   REDIS_PORT [16379]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=redis
# shellcheck source=lib.sh
source "$HERE/lib.sh"

REDIS_DIR=$(realpath -m "${REDIS_DIR:-$PWD/.run/redis}")
REDIS_PORT=${REDIS_PORT:-16379}
PID_FILE=$REDIS_DIR/redis.pid

server_bin() {
  command -v redis-server 2>/dev/null || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; } || die "redis-server not found: install Debian's redis-server (test/run.sh does)"
}

running() { [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

write_config() {
  mkdir -p "$REDIS_DIR/data"
  # appendonly with fsync every second: a restart keeps the sessions, as a production Redis would.
  cat >"$REDIS_DIR/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
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
    if [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; then
      say "ready on 127.0.0.1:$REDIS_PORT (pid $(cat "$PID_FILE")) in $(since "$t0")"
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

case ${1:-} in
  start) start fresh ;;
  stop) shift; stop "$@" ;;
  restart) stop; start keep ;;
  status) running ;;
  cli) shift; exec redis-cli -p "$REDIS_PORT" "$@" ;;
  url) echo "redis://127.0.0.1:$REDIS_PORT" ;;
  *) usage; exit 2 ;;
esac
