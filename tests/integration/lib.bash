# Shared helpers for the integration scenarios: real certsync processes on
# loopback in a private temporary directory. Source it, then call t_setup.
set -uo pipefail

CERTSYNC=${CERTSYNC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/certsync}
T_PASSED=0
T_FAILED=0
T_PIDS=()

t_setup() {
  local name=$1
  T_DIR=${CS_TEST_TMP:-/tmp}/integration-$name-$$
  rm -rf "$T_DIR"; mkdir -p "$T_DIR"
  trap t_cleanup EXIT
}

t_cleanup() {
  for p in "${T_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "$T_FAILED" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T_DIR"; fi
}

t_ok() { T_PASSED=$((T_PASSED + 1)); echo "ok - $*"; }
t_fail() { T_FAILED=$((T_FAILED + 1)); echo "FAIL - $*"; }
t_check() { local what=$1; shift; if "$@"; then t_ok "$what"; else t_fail "$what"; fi; }
t_finish() {
  echo "$T_PASSED passed, $T_FAILED failed"
  [ "$T_FAILED" -eq 0 ]
}

t_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until a command succeeds (up to $1 seconds).
t_wait() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do "$@" && return 0; sleep 0.2; done
  return 1
}

# hub_start: init (once) and serve the hub in $T_DIR/hub on a free port.
hub_start() {
  HUB_DATA=$T_DIR/hub
  if [ ! -d "$HUB_DATA" ]; then
    HUB_PORT=$(t_free_port)
    "$CERTSYNC" hub init --data "$HUB_DATA" --listen 127.0.0.1:$HUB_PORT >/dev/null || return 1
  fi
  "$CERTSYNC" hub serve --data "$HUB_DATA" --log-level info >>"$T_DIR/hub.log" 2>&1 &
  HUB_PID=$!
  T_PIDS+=("$HUB_PID")
  t_wait 20 curl -sfk "https://127.0.0.1:$HUB_PORT/healthz" -o /dev/null
}

hub_kill() { kill -9 "$HUB_PID" 2>/dev/null; wait "$HUB_PID" 2>/dev/null; }

hub() { "$CERTSYNC" hub "$@" --data "$HUB_DATA"; }

metric() {
  curl -sfk "https://127.0.0.1:$HUB_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }' | head -1
}

# device_new NAME: init + enroll a device in $T_DIR/NAME; sets ID_<NAME>.
device_new() {
  local name=$1 token id
  token=$(hub token create) || return 1
  id=$("$CERTSYNC" device init --data "$T_DIR/$name" --name "$name") || return 1
  "$CERTSYNC" device enroll "$token" --data "$T_DIR/$name" >/dev/null || return 1
  printf -v "ID_$name" '%s' "$id"
}

folder_add() { "$CERTSYNC" folder add "$2" "$3" --data "$T_DIR/$1"; }

# agent_start NAME: run the agent of device NAME in the background.
agent_start() {
  local name=$1
  "$CERTSYNC" agent run --data "$T_DIR/$name" --log-level info >>"$T_DIR/agent-$name.log" 2>&1 &
  local pid=$!
  T_PIDS+=("$pid")
  printf -v "AGENT_$name" '%s' "$pid"
}

agent_kill() {
  local var=AGENT_$1
  kill -9 "${!var}" 2>/dev/null; wait "${!var}" 2>/dev/null
}

# job_state ID: prints the job's overall state.
job_state() { hub job show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

# job_uploaded ID: true once the source has stored every blob of the job.
job_uploaded() {
  hub job show "$1" --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("uploaded") else 1)'
}

job_wait() {
  local id=$1 secs=${2:-120} st
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    st=$(job_state "$id" 2>/dev/null)
    case "$st" in done|failed) echo "$st"; return 0 ;; esac
    sleep 0.3
  done
  echo timeout
}

# tree_sig DIR: one line per entry with relative path, type, mode, size,
# mtime (ns) and content hash, for comparing trees exactly.
tree_sig() {
  (cd "$1" && find . -mindepth 1 ! -name '.certsync-tmp-*' -printf '%P\t%y\t%m\t%s\t%T@\n' | LC_ALL=C sort |
    while IFS=$'\t' read -r p y m s t; do
      if [ "$y" = f ]; then h=$(sha256sum "$p" | cut -c1-64); else h=-; s=-; fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$y" "$m" "$s" "$t" "$h"
    done)
}

trees_equal() { diff <(tree_sig "$1") <(tree_sig "$2") >/dev/null; }
