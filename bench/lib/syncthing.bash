# shellcheck shell=bash disable=SC2034  # TOOL_EXCLUDES and ROUND_* are read by run_rounds
# Syncthing: two instances on loopback (their own homes, GUI/REST and listen
# ports on 127.0.0.1, no discovery, relays, NAT or reporting), introduced to
# each other by device ID, one folder shared send-only (source) to
# receive-only (destination). The REST work is in bench/lib/syncthing.py.

syncthing_EXCLUDES=(.stfolder .stignore)

st_py() { "$PYTHON" "$BENCH/lib/syncthing.py" "$@"; }

syncthing_setup() {
  local who home
  command -v syncthing >/dev/null || { SETUP_ERROR="syncthing is not installed"; return 1; }
  ST_PIDS=()
  for who in A B; do
    home=$WORK/syncthing-$who
    rm -rf "$home"
    syncthing generate --home "$home" --no-default-folder >>"$WORK/syncthing-$who.log" 2>&1 ||
      { SETUP_ERROR="'syncthing generate' failed (see $WORK/syncthing-$who.log)"; return 1; }
    st_py prepare "$home" "$(free_port)" "$(free_port)" ||
      { SETUP_ERROR="cannot edit $home/config.xml"; return 1; }
    STNODEFAULTFOLDER=1 STNOUPGRADE=1 syncthing serve --home "$home" --no-browser --no-restart \
      --gui-address="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$home/bench.json")" \
      >>"$WORK/syncthing-$who.log" 2>&1 &
    ST_PIDS+=($!)
    BENCH_PIDS+=($!)
  done
  st_py connect "$WORK/syncthing-A" "$WORK/syncthing-B" 2>>"$WORK/syncthing-A.log" ||
    { SETUP_ERROR="the two instances did not connect (see $WORK/syncthing-A.log)"; return 1; }
}

syncthing_teardown() {
  local p
  for p in "${ST_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${ST_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ST_PIDS=()
}

syncthing_round() {
  local out files
  read -r files _ < <(dataset_py stats "$ST_SRC")
  out=$(st_py round "$1" "$WORK/syncthing-A" "$WORK/syncthing-B" "$ST_SRC" "$ST_DST" \
    "$files" "$ROUND_TIMEOUT" 2>>"$WORK/syncthing-A.log") || {
    ROUND_ERROR=$(tail -1 "$WORK/syncthing-A.log")
    return 1
  }
  read -r ROUND_SECS ROUND_BYTES <<<"$out"
}

# syncthing_bench SRC DST: a setup problem skips Syncthing (the rest of the
# bench goes on); a wrong result fails like any other tool.
syncthing_bench() {
  ST_SRC=$1 ST_DST=$2
  SETUP_ERROR=''
  if ! syncthing_setup; then
    log "syncthing: skipped ($SETUP_ERROR)"
    result syncthing status "skipped ($SETUP_ERROR)"
    syncthing_teardown
    return 0
  fi
  run_rounds syncthing "$ST_SRC" "$ST_DST"
  local rc=$?
  syncthing_teardown
  return $rc
}
