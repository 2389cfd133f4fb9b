#!/usr/bin/env bash
# Runs a real Apache RocketMQ 5.x on loopback for tests: a name server JVM and a proxy JVM in
# "local" mode (the proxy embeds the broker, so producers/consumers speak gRPC to the proxy).
# The jars come from Maven Central (resolved with ./rocketmq/pom.xml), so no distribution
# tarball and no Docker are needed; only Java 17+ and Maven.
#
# Usage: test/env/rocketmq.sh <command> [args]
#   fetch                          resolve the classpath (cached; offline once resolved)
#   start                          start name server + proxy/broker, wait until ready
#   stop [--kill]                  stop both JVMs (--kill: SIGKILL, no graceful shutdown)
#   status                         show what runs (exit 0 only if both JVMs run)
#   logs [-f] [LINES]              show (or follow) the tail of the logs
#   create-topic NAME [TYPE]       TYPE: NORMAL (default) | FIFO | DELAY | TRANSACTION
#   create-topic NAME:TYPE ...     several topics in one call
#   create-group NAME [--fifo]     consumer group; --fifo makes it an ordered group. Needed
#                                  before a gRPC consumer starts: the 5.5 proxy rejects unknown
#                                  groups (the consumer's startup() then retries forever)
#   stop-broker [--kill]           take only the proxy+broker JVM away (--kill: SIGKILL, a crash)
#   start-broker                   bring it back on the same store (stored messages survive)
#
# Environment (defaults in brackets):
#   RMQ_DIR [$PWD/.run/rocketmq]   state: config, store, logs, pid files
#   MQBRIDGE_CACHE [~/.cache/mqbridge]  classpath cache (jars themselves stay in ~/.m2)
#   RMQ_VERSION [5.5.0]            RocketMQ version to resolve
#   RMQ_NAMESRV_PORT [19876]       name server
#   RMQ_BROKER_PORT [20911]        broker remoting; the broker also binds PORT-2 and PORT+1
#   RMQ_PROXY_PORT [18081]         gRPC endpoint for the 5.x clients
#   RMQ_PROXY_REMOTING_PORT [18080]  proxy's remoting endpoint (4.x-style clients)
#   RMQ_HOST [127.0.0.1]           the broker's address, which the proxy also hands to clients
#                                  as its own in every topic route (its gRPC port listens on
#                                  every address); the real node's pods need its node address
#   RMQ_READY_TIMEOUT [120]        seconds to wait for readiness
#   RMQ_STOP_TIMEOUT [20]          seconds between SIGTERM and SIGKILL
#   RMQ_NAMESRV_HEAP [256m]  RMQ_BROKER_HEAP [640m]  RMQ_QUEUES [8]
#   RMQ_MIN_LONG_POLL_MS [5000]    proxy's minimum long-polling time for a gRPC receive; an empty
#                                  receive() lasts at least this long (RocketMQ's default: 5000)
#   RMQ_ADMIN_JOBS [4]             admin-tool JVMs run at once by create-topic / create-group
#   RMQ_FLUSH_DISK_TYPE [SYNC_FLUSH]  SYNC_FLUSH: a stored message is on disk (tests kill and
#                                  restart the broker); ASYNC_FLUSH is RocketMQ's own default
#   RMQ_ROUTE_CACHE_REFRESH_S [20] how long the proxy serves a cached topic route, including a
#                                  cached "no route" seen while the broker was away (default: 20)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM_DIR=$HERE/rocketmq

RMQ_VERSION=${RMQ_VERSION:-5.5.0}
CACHE_DIR=${MQBRIDGE_CACHE:-$HOME/.cache/mqbridge}/rocketmq
CP_FILE=$CACHE_DIR/classpath.txt
# Identifies what the cached classpath was resolved from (version + pom contents).
CP_KEY_FILE=$CACHE_DIR/classpath.key

RMQ_DIR=$(realpath -m "${RMQ_DIR:-$PWD/.run/rocketmq}")
RMQ_NAMESRV_PORT=${RMQ_NAMESRV_PORT:-19876}
RMQ_BROKER_PORT=${RMQ_BROKER_PORT:-20911}
RMQ_PROXY_PORT=${RMQ_PROXY_PORT:-18081}
RMQ_PROXY_REMOTING_PORT=${RMQ_PROXY_REMOTING_PORT:-18080}
RMQ_READY_TIMEOUT=${RMQ_READY_TIMEOUT:-120}
RMQ_STOP_TIMEOUT=${RMQ_STOP_TIMEOUT:-20}
RMQ_NAMESRV_HEAP=${RMQ_NAMESRV_HEAP:-256m}
RMQ_BROKER_HEAP=${RMQ_BROKER_HEAP:-640m}
RMQ_QUEUES=${RMQ_QUEUES:-8}
RMQ_MIN_LONG_POLL_MS=${RMQ_MIN_LONG_POLL_MS:-5000}
RMQ_ROUTE_CACHE_REFRESH_S=${RMQ_ROUTE_CACHE_REFRESH_S:-20}
RMQ_ADMIN_JOBS=${RMQ_ADMIN_JOBS:-4}
RMQ_FLUSH_DISK_TYPE=${RMQ_FLUSH_DISK_TYPE:-SYNC_FLUSH}

CLUSTER=DefaultCluster
BROKER_NAME=broker-a
NAMESRV_ADDR=127.0.0.1:$RMQ_NAMESRV_PORT
RMQ_HOST=${RMQ_HOST:-127.0.0.1}
CONF_DIR=$RMQ_DIR/conf
# Every JVM gets -Duser.home=$RMQ_DIR, and RocketMQ's logback configs write to
# ${user.home}/logs/rocketmqlogs: this keeps test runs apart and out of the real home.
LOG_DIR=$RMQ_DIR/logs/rocketmqlogs

# JDK 17 closes the internals RocketMQ uses to unmap files and size direct memory
# (apache/rocketmq#9887, #9779, #10170).
JDK_OPENS=(
  --add-exports java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
)

# ---------------------------------------------------------------------------------- helpers

LOG_TAG=rocketmq
# shellcheck source=test/env/lib.sh
source "$HERE/lib.sh"

pid_file() { echo "$RMQ_DIR/$1.pid"; }

# Prints the pid of the JVM playing role $1 (namesrv|proxy) if it is alive. The role marker on
# the command line guards against a stale pid file whose pid now belongs to another process.
running_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  ps -ww -o args= -p "$pid" 2>/dev/null | grep -q -- "-Dmqbridge.rmq.role=$1 " || return 1
  echo "$pid"
}

classpath() { cat "$CP_FILE"; }

# Options shared by every JVM we start. Role is a marker for running_pid and ps listings.
# java.io.tmpdir: the proxy writes a self-signed TLS certificate there on every start.
jvm_common() {
  local role=$1
  mkdir -p "$RMQ_DIR/tmp"
  printf '%s\n' "-Dmqbridge.rmq.role=$role" "-Duser.home=$RMQ_DIR" "-Drocketmq.home.dir=$RMQ_DIR" \
    "-Djava.io.tmpdir=$RMQ_DIR/tmp" -Djava.net.preferIPv4Stack=true \
    -XX:-OmitStackTraceInFastThrow "${JDK_OPENS[@]}"
}

# Long-running server JVM with a small heap. The distribution's scripts use 4-8 GB heaps with
# -Xms=-Xmx and AlwaysPreTouch; here the heap starts small so RSS grows only with what is used.
jvm_server() {
  local role=$1 heap=$2
  jvm_common "$role"
  printf '%s\n' -Xms64m "-Xmx$heap" -XX:MaxDirectMemorySize=256m -XX:+UseG1GC \
    -XX:SoftRefLRUPolicyMSPerMB=0
}

# Short-lived admin-tool JVM: small heap, C1 only and serial GC start fastest.
admin() {
  local opts
  mapfile -t opts < <(jvm_common admin)
  java "${opts[@]}" -Xms32m -Xmx128m -Xss512k -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -cp "$(classpath)" org.apache.rocketmq.tools.command.MQAdminStartup "$@"
}

# Runs the admin tool and prints its output; succeeds once a line matching the regex $1 shows
# up. mqadmin prints its result and then spends ~3 s in client shutdown (a 3 s poll in
# NettyRemotingClient's event thread), so the JVM is ended as soon as the line is there.
# mqadmin exits 0 even when a command fails, hence the match on its output.
admin_until() {
  local pattern=$1 out pid found=1
  shift
  out=$(mktemp "${TMPDIR:-/tmp}/rmq-admin.XXXXXX")
  admin "$@" >"$out" 2>&1 &
  pid=$!
  while :; do
    if grep -Eq -- "$pattern" "$out"; then
      found=0
      kill -TERM "$pid" 2>/dev/null || true
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || true
  # The JVM may have exited between the last grep and kill -0.
  ((found == 0)) || ! grep -Eq -- "$pattern" "$out" || found=0
  cat "$out"
  rm -f "$out"
  return $found
}

# ------------------------------------------------------------------------------------ fetch

cp_key() { { echo "$RMQ_VERSION"; cat "$POM_DIR/pom.xml"; } | sha256sum | cut -d' ' -f1; }

# True if the cached classpath matches the pom/version and all its jars are still in ~/.m2.
cp_cached() {
  [[ -s $CP_FILE && -f $CP_KEY_FILE && $(<"$CP_KEY_FILE") == "$(cp_key)" ]] || return 1
  local jar
  while IFS= read -r jar; do
    [[ -z $jar || -f $jar ]] || return 1
  done < <(tr ':' '\n' <"$CP_FILE")
}

cmd_fetch() {
  if cp_cached; then
    say "classpath cached: $CP_FILE"
    return 0
  fi
  command -v java >/dev/null || die "java not found (Java 17+ needed)"
  command -v mvn >/dev/null || die "mvn not found (needed once, to download the jars)"
  mkdir -p "$CACHE_DIR"
  local t0 tmp
  t0=$(now_ms)
  tmp=$CP_FILE.tmp.$$
  local mvn_args=(-q -B -Dstyle.color=never -f "$POM_DIR/pom.xml" "-Drocketmq.version=$RMQ_VERSION"
    dependency:build-classpath "-Dmdep.outputFile=$tmp")
  # Offline first: when ~/.m2 already has everything this takes ~2 s and needs no network.
  say "resolving RocketMQ $RMQ_VERSION classpath (offline, from ~/.m2)..."
  if ! mvn -o "${mvn_args[@]}" >/dev/null 2>&1; then
    say "not all jars in ~/.m2 yet; downloading from Maven Central..."
    mvn "${mvn_args[@]}" || { rm -f "$tmp"; die "maven could not resolve the classpath"; }
  fi
  mv "$tmp" "$CP_FILE"
  cp_key >"$CP_KEY_FILE"
  say "classpath ready ($(tr ':' '\n' <"$CP_FILE" | wc -l) jars) in $(since "$t0"): $CP_FILE"
}

# ----------------------------------------------------------------------------------- config

write_configs() {
  mkdir -p "$CONF_DIR" "$RMQ_DIR/store" "$LOG_DIR"

  # Loopback only. (The name server also keeps a client pointed at <first non-loopback
  # address>:port, unused; it logs a failed connect every 3 s to remoting.log. Harmless.)
  cat >"$CONF_DIR/namesrv.conf" <<EOF
listenPort=$RMQ_NAMESRV_PORT
bindAddress=127.0.0.1
kvConfigPath=$RMQ_DIR/namesrv/kvConfig.json
EOF

  # The defaults are sized for production: 1 GiB commit-log files and a ~420 MB index file.
  cat >"$CONF_DIR/broker.conf" <<EOF
brokerClusterName=$CLUSTER
brokerName=$BROKER_NAME
brokerId=0
namesrvAddr=$NAMESRV_ADDR
# The default is the first non-loopback address; clients must only ever see RMQ_HOST.
brokerIP1=$RMQ_HOST
bindAddress=$RMQ_HOST
listenPort=$RMQ_BROKER_PORT
storePathRootDir=$RMQ_DIR/store
storePathCommitLog=$RMQ_DIR/store/commitlog
mappedFileSizeCommitLog=67108864
mappedFileSizeTimerLog=16777216
maxHashSlotNum=50000
maxIndexNum=200000
# SYNC_FLUSH (the default here): an acknowledged send is on disk, so stop-broker/start-broker
# (even with SIGKILL) keeps it.
flushDiskType=$RMQ_FLUSH_DISK_TYPE
# Test machines often have fuller disks than production ones. The broker refuses writes above
# diskSpaceWarningLevelRatio, which RocketMQ caps at 90 (and the forced-clean ratio at 85);
# set both to their caps and let the periodic cleaner start at 95 % instead of 75 %.
diskMaxUsedSpaceRatio=95
diskSpaceWarningLevelRatio=90
diskSpaceCleanForciblyRatio=85
deleteWhen=04
fileReservedTime=48
# The gRPC proxy never auto-creates topics anyway; create them with "create-topic".
autoCreateTopicEnable=false
# One pop-revive thread instead of 8: each one delays a graceful shutdown by up to ~3 s.
reviveQueueNum=1
EOF

  cat >"$CONF_DIR/proxy.json" <<EOF
{
  "rocketMQClusterName": "$CLUSTER",
  "namesrvAddr": "$NAMESRV_ADDR",
  "proxyMode": "local",
  "grpcServerPort": $RMQ_PROXY_PORT,
  "remotingListenPort": $RMQ_PROXY_REMOTING_PORT,
  "grpcClientConsumerMinLongPollingTimeoutMillis": $RMQ_MIN_LONG_POLL_MS,
  "topicRouteServiceCacheRefreshSeconds": $RMQ_ROUTE_CACHE_REFRESH_S,
  "grpcShutdownTimeSeconds": 2
}
EOF
}

# ------------------------------------------------------------------------------ start/stop

# Fails early, with a clear message, if a port we need is taken by someone else.
check_ports_free() {
  local p
  for p in "$@"; do
    ! port_open "$p" || die "port $p is already in use (set RMQ_*_PORT to move it)"
  done
}

# Starts JVM role $1 in the background with main class $3 and args, heap $2; stdout/stderr go
# to $RMQ_DIR/<role>.out. stdin/stdout are detached so callers capturing our output don't hang.
spawn() {
  local role=$1 heap=$2 main=$3
  shift 3
  local opts
  mapfile -t opts < <(jvm_server "$role" "$heap")
  nohup java "${opts[@]}" -cp "$(classpath)" "$main" "$@" \
    </dev/null >"$RMQ_DIR/$role.out" 2>&1 &
  echo $! >"$(pid_file "$role")"
}

start_namesrv() {
  local pid t0
  if pid=$(running_pid namesrv); then
    say "name server already running (pid $pid)"
    return 0
  fi
  check_ports_free "$RMQ_NAMESRV_PORT"
  t0=$(now_ms)
  spawn namesrv "$RMQ_NAMESRV_HEAP" org.apache.rocketmq.namesrv.NamesrvStartup \
    -c "$CONF_DIR/namesrv.conf"
  local deadline=$((SECONDS + RMQ_READY_TIMEOUT))
  until port_open "$RMQ_NAMESRV_PORT"; do
    # kill -0 on the spawned pid: until java has exec'd, the role marker is not in its arguments.
    kill -0 "$(<"$(pid_file namesrv)")" 2>/dev/null || fail_with_logs "name server exited during start-up" namesrv
    ((SECONDS < deadline)) || fail_with_logs "name server not listening after ${RMQ_READY_TIMEOUT}s" namesrv
    sleep 0.2
  done
  say "name server up on $NAMESRV_ADDR (pid $(running_pid namesrv)) in $(since "$t0")"
}

start_proxy() {
  local pid t0
  if pid=$(running_pid proxy); then
    say "proxy+broker already running (pid $pid)"
    return 0
  fi
  running_pid namesrv >/dev/null || die "name server is not running (use 'start')"
  check_ports_free "$RMQ_BROKER_PORT" $((RMQ_BROKER_PORT - 2)) $((RMQ_BROKER_PORT + 1)) \
    "$RMQ_PROXY_PORT" "$RMQ_PROXY_REMOTING_PORT"
  t0=$(now_ms)
  local registrations
  registrations=$(count_registrations)
  spawn proxy "$RMQ_BROKER_HEAP" org.apache.rocketmq.proxy.ProxyStartup \
    -pm local -bc "$CONF_DIR/broker.conf" -pc "$CONF_DIR/proxy.json" -n "$NAMESRV_ADDR"
  wait_proxy_ready "$registrations"
  say "proxy+broker ready (pid $(running_pid proxy)) in $(since "$t0"):" \
    "gRPC $RMQ_HOST:$RMQ_PROXY_PORT, broker $RMQ_HOST:$RMQ_BROKER_PORT"
}

# How many times the broker has logged a completed registration with the name server.
count_registrations() {
  local n
  n=$(grep -c 'Registering current broker to name server completed' "$LOG_DIR/broker.log" \
    2>/dev/null) || true
  echo "${n:-0}"
}

# Ready means: the proxy finished starting all its servers (it prints a line after the broker,
# gRPC and remoting servers are up), the gRPC port accepts connections, and the name server
# lists our broker. The last part matters: the proxy resolves topic routes through the name
# server, and until the broker is registered every client gets "No topic route info".
wait_proxy_ready() {
  local registrations_before=$1
  local deadline=$((SECONDS + RMQ_READY_TIMEOUT))
  local stage="proxy start-up" nudge_at=0
  while :; do
    kill -0 "$(<"$(pid_file proxy)")" 2>/dev/null || fail_with_logs "proxy+broker exited during start-up" proxy
    ((SECONDS < deadline)) ||
      fail_with_logs "proxy+broker not ready after ${RMQ_READY_TIMEOUT}s (waiting for: $stage)" proxy
    case $stage in
      "proxy start-up")
        if grep -q 'rocketmq-proxy startup successfully' "$RMQ_DIR/proxy.out" 2>/dev/null &&
          port_open "$RMQ_PROXY_PORT"; then
          stage="broker registration"
          nudge_at=$(($(now_ms) + 1000))
          continue
        fi
        ;;
      "broker registration")
        # Cheap: the broker logs each completed registration.
        if (($(count_registrations) > registrations_before)); then
          stage="name server listing the broker"
          continue
        fi
        # The broker often skips its registration at start-up and registers only on its 10 s
        # timer. Setting brokerPermission (to its current value, read+write) makes it register
        # at once. (The broker also rewrites conf/broker.conf then; write_configs regenerates it.)
        if ((nudge_at && $(now_ms) >= nudge_at)); then
          nudge_at=0
          admin_until 'update broker config success' updateBrokerConfig \
            -b "$RMQ_HOST:$RMQ_BROKER_PORT" -k brokerPermission -v 6 >/dev/null || true
        fi
        ;;
      *)
        # Confirm from the name server's side (one admin JVM, ~1 s).
        if admin_until " ${RMQ_HOST//./\\.}:$RMQ_BROKER_PORT " clusterList -n "$NAMESRV_ADDR" >/dev/null; then
          return 0
        fi
        ;;
    esac
    sleep 0.2
  done
}

fail_with_logs() {
  local msg=$1 role=$2
  printf '[rocketmq] error: %s\n' "$msg" >&2
  show_logs 40 "$role" >&2
  exit 1
}

# SIGTERM lets RocketMQ run its shutdown hooks (unregister from the name server, flush, close
# client streams); SIGKILL after RMQ_STOP_TIMEOUT seconds so a hung JVM can't block a test run.
# With signal KILL it is a crash right away (the store recovers on the next start).
stop_role() {
  local role=$1 label=$2 signal=${3:-TERM} pid
  if ! pid=$(running_pid "$role"); then
    say "$label not running"
    rm -f "$(pid_file "$role")"
    return 0
  fi
  stop_pid "$label" "$pid" "$RMQ_STOP_TIMEOUT" "$signal" "$(pid_file "$role")"
}

cmd_start() {
  cmd_fetch
  write_configs
  start_namesrv
  start_proxy
}

cmd_start_broker() {
  cp_cached || die "classpath not fetched (use 'start')"
  write_configs
  start_proxy
}

cmd_stop_broker() {
  case ${1:-} in
    '') stop_role proxy "proxy+broker" ;;
    --kill) stop_role proxy "proxy+broker" KILL ;;
    *) die "usage: stop-broker [--kill]" ;;
  esac
}

cmd_stop() {
  local signal
  case ${1:-} in
    '') signal=TERM ;;
    --kill) signal=KILL ;;
    *) die "usage: stop [--kill]" ;;
  esac
  # Proxy first, so the broker can still unregister from the name server.
  stop_role proxy "proxy+broker" "$signal"
  stop_role namesrv "name server" "$signal"
}

cmd_status() {
  local ok=0 pid
  if pid=$(running_pid namesrv); then
    say "name server: running, pid $pid, $NAMESRV_ADDR, RSS $(rss_mb "$pid") MB"
  else
    say "name server: stopped"; ok=1
  fi
  if pid=$(running_pid proxy); then
    say "proxy+broker: running, pid $pid, gRPC $RMQ_HOST:$RMQ_PROXY_PORT," \
      "remoting $RMQ_HOST:$RMQ_PROXY_REMOTING_PORT, broker $RMQ_HOST:$RMQ_BROKER_PORT," \
      "RSS $(rss_mb "$pid") MB"
  else
    say "proxy+broker: stopped"; ok=1
  fi
  say "state dir: $RMQ_DIR"
  return $ok
}


# ------------------------------------------------------------------------------------- logs

# Log files per role: the JVM's own stdout/stderr plus RocketMQ's main logs.
role_logs() {
  case $1 in
    namesrv) echo "$RMQ_DIR/namesrv.out $LOG_DIR/namesrv.log" ;;
    proxy) echo "$RMQ_DIR/proxy.out $LOG_DIR/proxy.log $LOG_DIR/broker.log $LOG_DIR/store.log" ;;
  esac
}

show_logs() {
  local lines=$1 role f
  shift
  for role in "$@"; do
    for f in $(role_logs "$role"); do
      [[ -s $f ]] || continue
      echo "----- $f (last $lines lines)"
      tail -n "$lines" "$f"
    done
  done
}

cmd_logs() {
  parse_log_args "$@"
  local follow=$LOG_FOLLOW lines=$LOG_LINES
  if ((follow)); then
    local files=() f
    for f in $(role_logs namesrv) $(role_logs proxy); do [[ -e $f ]] && files+=("$f"); done
    ((${#files[@]})) || die "no logs in $RMQ_DIR yet"
    exec tail -n "$lines" -F "${files[@]}"
  fi
  show_logs "$lines" namesrv proxy
}

# ------------------------------------------------------------------------- topics & groups

# Runs "$@" up to 3 times until it succeeds; prints the output of the last attempt. A loaded
# machine makes the admin tool time out against the name server now and then.
with_retries() {
  local attempt out
  for attempt in 1 2 3; do
    out=$("$@") && { printf '%s\n' "$out"; return 0; }
    ((attempt < 3)) && sleep 1
  done
  printf '%s\n' "$out"
  return 1
}

# Runs `$1 ARG` for each further argument in the background, RMQ_ADMIN_JOBS at a time (each
# is an admin JVM; dozens at once on 2 cores time out). Fails when one of them failed.
run_each() {
  local fn=$1 arg failures
  shift
  failures=$(mktemp -d "${TMPDIR:-/tmp}/rmq-admin-failed.XXXXXX")
  for arg in "$@"; do
    while (($(jobs -rp | wc -l) >= RMQ_ADMIN_JOBS)); do sleep 0.1; done
    { "$fn" "$arg" || touch "$failures/${arg//[^A-Za-z0-9_]/_}"; } &
  done
  wait
  local failed
  failed=$(ls -A "$failures")
  rm -rf "$failures"
  [[ -z $failed ]]
}

create_topic_spec() { create_one_topic "${1%%:*}" "${1#*:}"; }

create_one_topic() {
  local name=$1 type=$2 t0 out
  local args=(updateTopic -n "$NAMESRV_ADDR" -c "$CLUSTER" -t "$name"
    -r "$RMQ_QUEUES" -w "$RMQ_QUEUES" -a "+message.type=$type")
  # An ordered topic also records its queue layout ("orderConf") in the name server.
  [[ $type == FIFO ]] && args+=(-o true)
  t0=$(now_ms)
  # The topic config is printed last, after the broker (and, for FIFO, the name server's
  # orderConf) were updated. updateTopic is an upsert, so a timed-out attempt is retried.
  if ! out=$(with_retries admin_until '^TopicConfig \[' "${args[@]}"); then
    printf '%s\n' "$out" >&2
    return 1
  fi
  say "topic $name ($type, $RMQ_QUEUES queues) created in $(since "$t0")"
}

cmd_create_topic() {
  (($#)) || die "usage: create-topic NAME [NORMAL|FIFO|DELAY|TRANSACTION] | NAME:TYPE..."
  local specs=()
  if (($# == 2)) && [[ $2 != *:* && $1 != *:* ]]; then
    specs=("$1:$2")
  else
    specs=("$@")
  fi
  local spec name type names=() types=()
  for spec in "${specs[@]}"; do
    name=${spec%%:*}
    type=NORMAL
    [[ $spec == *:* ]] && type=${spec#*:}
    type=${type^^}
    [[ $name =~ ^[A-Za-z0-9_%|-]{1,127}$ ]] || die "invalid topic name: '$name'"
    case $type in NORMAL | FIFO | DELAY | TRANSACTION) ;; *) die "invalid topic type: '$type'" ;; esac
    names+=("$name")
    types+=("$type")
  done
  cp_cached || die "classpath not fetched (use 'start')"
  running_pid namesrv >/dev/null || die "name server is not running (use 'start')"

  # One admin JVM per topic (mqadmin takes one topic per run), a few at a time.
  local i t0 pairs=()
  t0=$(now_ms)
  for i in "${!names[@]}"; do pairs+=("${names[$i]}:${types[$i]}"); done
  run_each create_topic_spec "${pairs[@]}" || die "could not create all topics"
  ((${#names[@]} == 1)) || say "${#names[@]} topics created in $(since "$t0")"
}

create_group_spec() { create_one_group "${1%%:*}" "${1#*:}"; }

create_one_group() {
  local name=$1 orderly=$2 t0 out
  t0=$(now_ms)
  # consumeMessageOrderly=true is what makes the proxy hand out FIFO messages in order.
  if ! out=$(with_retries admin_until 'create subscription group to .* success' \
    updateSubGroup -n "$NAMESRV_ADDR" -c "$CLUSTER" -g "$name" -o "$orderly"); then
    printf '%s\n' "$out" >&2
    say "could not create group $name"
    return 1
  fi
  say "group $name (orderly=$orderly) created in $(since "$t0")"
}

cmd_create_group() {
  local usage="usage: create-group NAME [--fifo] | NAME[:fifo] ..."
  (($#)) || die "$usage"
  local specs=()
  if (($# == 2)) && [[ $2 == --fifo ]]; then
    specs=("$1:fifo")
  else
    specs=("$@")
  fi
  cp_cached || die "classpath not fetched (use 'start')"
  running_pid namesrv >/dev/null || die "name server is not running (use 'start')"
  # One admin JVM per group, a few at a time like create-topic.
  local spec name orderly t0 pairs=()
  t0=$(now_ms)
  for spec in "${specs[@]}"; do
    name=${spec%%:*}
    orderly=false
    case $spec in *:fifo) orderly=true ;; *:*) die "$usage" ;; esac
    [[ $name =~ ^[A-Za-z0-9_%|-]{1,255}$ ]] || die "invalid group name: '$name'"
    pairs+=("$name:$orderly")
  done
  run_each create_group_spec "${pairs[@]}" || die "could not create all groups"
  ((${#specs[@]} == 1)) || say "${#specs[@]} groups created in $(since "$t0")"
}

# ------------------------------------------------------------------------------------- main


main() {
  local cmd=${1:-}
  (($#)) && shift
  case $cmd in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    create-topic) cmd_create_topic "$@" ;;
    create-group) cmd_create_group "$@" ;;
    stop-broker) cmd_stop_broker "$@" ;;
    start-broker) cmd_start_broker ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
