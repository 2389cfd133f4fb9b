# shellcheck shell=bash
# Helpers shared by the scripts in test/env. Source it after setting LOG_TAG.

say() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
die() { printf '[%s] error: %s\n' "$LOG_TAG" "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }
# Seconds since $1 (from now_ms), with one decimal.
since() { local d=$(( $(now_ms) - $1 )); printf '%d.%ds' $((d / 1000)) $(((d % 1000) / 100)); }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
rss_mb() { ps -o rss= -p "$1" | awk '{printf "%d", $1 / 1024}'; }
# The script's header comment is its usage text.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# Stops process $2 (named $1 in messages) with signal $4 (default TERM), then SIGKILL after
# $3 seconds so a hung process cannot block a test run; removes pid file $5.
stop_pid() {
  local label=$1 pid=$2 timeout=$3 signal=${4:-TERM} pidfile=$5 t0 deadline killed=0
  t0=$(now_ms)
  kill "-$signal" "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline && !killed)); then
      say "$label (pid $pid) still running after ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      killed=1
    fi
    sleep 0.1
  done
  rm -f "$pidfile"
  say "$label stopped (pid $pid) in $(since "$t0")"
}

# Parses `logs [-f] [LINES]` into LOG_FOLLOW (0/1) and LOG_LINES (default 50), read by the caller.
# shellcheck disable=SC2034
parse_log_args() {
  LOG_FOLLOW=0
  LOG_LINES=50
  local a
  for a in "$@"; do
    case $a in
      -f) LOG_FOLLOW=1 ;;
      *[!0-9]* | '') die "usage: logs [-f] [LINES]" ;;
      *) LOG_LINES=$a ;;
    esac
  done
}

# The Go toolchain: $GO, else `go` on PATH, else the usual install place. $1 says what needs it.
go_bin() {
  if [[ -n ${GO:-} ]]; then echo "$GO"
  elif command -v go >/dev/null; then command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
  else die "go not found (${1:-Go is needed})"
  fi
}
