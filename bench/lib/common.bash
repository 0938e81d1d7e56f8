# shellcheck shell=bash
# Helpers shared by bench/run and the per-tool drivers (bench/lib/<tool>.bash).
# A driver defines TOOL_bench SRC DST (set up, run_rounds, tear down),
# TOOL_round ROUND and TOOL_EXCLUDES; it keeps its state and logs in $WORK
# (one directory per dataset and tool) and reports its numbers with
# `result TOOL KEY VALUE` into $RESULTS.

# The system python: a pyenv shim on PATH may take seconds to start.
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 )}

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until SECS CMD...: retry CMD every 0.1 s until it succeeds or SECS pass.
wait_until() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do "$@" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# warmed LOG...: every log holds a certsync process's memory.warmed line (the
# memory a hub or agent touches at start, docs/ARCHITECTURE.md, Memory).
warmed() {
  local f
  for f in "$@"; do grep -q 'event=memory.warmed' "$f" || return 1; done
}

# now: wall clock in microseconds (bash 5, no fork); elapsed T0 T1: seconds between.
now() { echo "${EPOCHREALTIME/./}"; }
elapsed() { local us=$(($2 - $1)); printf '%d.%06d\n' $((us / 1000000)) $((us % 1000000)); }

# result TOOL KEY VALUE: one line of $RESULTS for the current dataset.
result() { printf '%s\t%s\t%s\t%s\n' "$DATASET" "$1" "$2" "$3" >>"$RESULTS"; }

dataset_py() { "$PYTHON" "$BENCH/lib/dataset.py" "$@"; }

# verify_trees TOOL ROUND SRC DST EXCLUDE...: the destination must equal the
# source (paths, types, modes, sizes, mtimes, contents). On a mismatch, print
# the first differing lines and return 1.
verify_trees() {
  local tool=$1 round=$2 src=$3 dst=$4; shift 4
  local ex=() p a b
  for p in "$@"; do ex+=(--exclude "$p"); done
  a=$(dataset_py sig "$src" "$WORK/$round.src.sig" "${ex[@]}") || return 1
  b=$(dataset_py sig "$dst" "$WORK/$round.dst.sig" "${ex[@]}") || return 1
  if [ "${a%% *}" = "${b%% *}" ]; then
    log "$tool $round: destination verified ($a)"
    VERIFIED_DIGEST=${a%% *}
    return 0
  fi
  log "$tool $round: DESTINATION DIFFERS FROM SOURCE (src $a / dst $b)"
  diff "$WORK/$round.src.sig" "$WORK/$round.dst.sig" | head -20 >&2
  return 1
}

# run_rounds TOOL SRC DST: the three measured rounds, driven through the tool's
# functions TOOL_round ROUND (sets ROUND_SECS and ROUND_BYTES) and the list
# TOOL_EXCLUDES of names the tool adds to a folder (ignored when comparing).
# Returns 1 (after recording "failed") when a round fails or syncs wrongly.
run_rounds() {
  local tool=$1 src=$2 dst=$3 round p
  local -n excludes="${tool}_EXCLUDES"
  local mutate_args=()
  for p in "${excludes[@]}"; do mutate_args+=(--exclude "$p"); done
  for round in initial incremental nochange; do
    if [ "$round" = incremental ]; then
      dataset_py mutate "$src" --seed 7 "${mutate_args[@]}" >&2 || return 1
    fi
    ROUND_SECS='' ROUND_BYTES=''
    if ! "${tool}_round" "$round"; then
      result "$tool" status "failed: $round round: ${ROUND_ERROR:-see the log}"
      return 1
    fi
    log "$tool $round: ${ROUND_SECS} s, ${ROUND_BYTES} bytes moved"
    result "$tool" "${round}_s" "$ROUND_SECS"
    result "$tool" "${round}_bytes" "$ROUND_BYTES"
    if ! verify_trees "$tool" "$round" "$src" "$dst" "${excludes[@]}"; then
      result "$tool" status "failed: destination differs from source after the $round round"
      return 1
    fi
    result "$tool" "${round}_digest" "$VERIFIED_DIGEST"
  done
  result "$tool" status ok
}

# jq_get JSON KEY[.KEY...]: one field of a JSON document ('' when missing).
jq_get() {
  "$PYTHON" -c '
import json, sys
try:
    v = json.loads(sys.argv[1])
    for k in sys.argv[2].split("."):
        v = v[k]
    print(v)
except Exception:
    print("")' "$1" "$2"
}
