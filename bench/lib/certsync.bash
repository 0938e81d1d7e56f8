# shellcheck shell=bash disable=SC2034  # TOOL_EXCLUDES and ROUND_* are read by run_rounds
# certsync relay sync, set up the way tests/integration/lib.bash does it: a hub
# on a free loopback port, device A (source, the dataset as folder "bench") and
# device B (destination, an empty folder), both agents running. Each round is
# one `certsync hub sync` job from A to B (bench/lib/certsync_round.py).

certsync_EXCLUDES=('.certsync-tmp-*')

cs() { "$CERTSYNC" "$@"; }

cs_metric() {
  curl -sfk "https://127.0.0.1:$CS_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }' | head -1
}
cs_agents_polling() { [ "$(cs_metric 'certsync_hub_devices{state="polling"}')" = 2 ]; }

certsync_setup() {
  local dir=$WORK/state who token
  [ -x "$CERTSYNC" ] || { SETUP_ERROR="no certsync binary at $CERTSYNC (build it first)"; return 1; }
  mkdir -p "$dir"
  CS_HUB=$dir/hub CS_PORT=$(free_port) CS_PIDS=()
  cs hub init --data "$CS_HUB" --listen "127.0.0.1:$CS_PORT" >>"$dir/setup.log" 2>&1 ||
    { SETUP_ERROR="hub init failed (see $dir/setup.log)"; return 1; }
  # Started directly (not through cs): $! must be the process whose CPU is read.
  "$CERTSYNC" hub serve --data "$CS_HUB" --log-level info >>"$dir/hub.log" 2>&1 &
  CS_HUB_PID=$!
  CS_PIDS+=("$CS_HUB_PID") BENCH_PIDS+=("$CS_HUB_PID")
  wait_until 20 curl -sfk "https://127.0.0.1:$CS_PORT/healthz" -o /dev/null ||
    { SETUP_ERROR="the hub does not answer /healthz (see $dir/hub.log)"; return 1; }
  for who in A B; do
    token=$(cs hub token create --data "$CS_HUB" 2>>"$dir/setup.log") &&
      printf -v "CS_ID_$who" '%s' "$(cs device init --data "$dir/$who" --name "$who" 2>>"$dir/setup.log")" &&
      cs device enroll "$token" --data "$dir/$who" >>"$dir/setup.log" 2>&1 ||
      { SETUP_ERROR="cannot enroll device $who (see $dir/setup.log)"; return 1; }
  done
  cs folder add bench "$CS_SRC" --data "$dir/A" >>"$dir/setup.log" 2>&1 &&
    cs folder add bench "$CS_DST" --data "$dir/B" >>"$dir/setup.log" 2>&1 ||
    { SETUP_ERROR="folder add failed (see $dir/setup.log)"; return 1; }
  for who in A B; do
    "$CERTSYNC" agent run --data "$dir/$who" --log-level info >>"$dir/agent-$who.log" 2>&1 &
    printf -v "CS_PID_$who" '%s' "$!"
    CS_PIDS+=("$!") BENCH_PIDS+=("$!")
  done
  wait_until 30 cs_agents_polling ||
    { SETUP_ERROR="the agents did not connect to the hub (see $dir/agent-*.log)"; return 1; }
  # Long-running processes have warmed their memory by the time a job comes
  # (docs/ARCHITECTURE.md, Memory); the rounds measure them so.
  wait_until 30 warmed "$dir/hub.log" "$dir/agent-A.log" "$dir/agent-B.log" ||
    { SETUP_ERROR="hub or agents did not log memory.warmed (see $dir/*.log)"; return 1; }
}

certsync_teardown() {
  local p
  for p in "${CS_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${CS_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  CS_PIDS=()
}

# certsync_round ROUND: one job; its JSON summary goes to state/rounds.log
# and the hub's view of the job (`hub job show --json`) to state/jobs.log.
certsync_round() {
  local out job rc err=$WORK/state/round-$1.err
  out=$("$PYTHON" "$BENCH/lib/certsync_round.py" "$CERTSYNC" "$CS_HUB" bench "$CS_ID_A" "$CS_ID_B" \
    "$ROUND_TIMEOUT" "$CS_HUB_PID" "$CS_PID_A" "$CS_PID_B" 2>"$err")
  rc=$?
  echo "$1 $out" >>"$WORK/state/rounds.log"
  job=$(jq_get "$out" job)
  [ -n "$job" ] && cs hub job show "$job" --json --data "$CS_HUB" >>"$WORK/state/jobs.log" 2>&1
  if [ $rc -ne 0 ]; then
    if [ -n "$out" ]; then
      ROUND_ERROR="job ${job:-?} $(jq_get "$out" state): $(jq_get "$out" reason)"
    else
      ROUND_ERROR="certsync_round.py: $(tail -1 "$err")"
    fi
    return 1
  fi
  ROUND_SECS=$(jq_get "$out" secs)
  ROUND_BYTES=$(( $(jq_get "$out" up) + $(jq_get "$out" down) ))
  result certsync "hub_cpu_$1_s" "$(jq_get "$out" cpu.hub)"
  result certsync "src_cpu_$1_s" "$(jq_get "$out" cpu.src)"
  result certsync "dst_cpu_$1_s" "$(jq_get "$out" cpu.dst)"
  result certsync "$1_up" "$(jq_get "$out" up)"
  result certsync "$1_down" "$(jq_get "$out" down)"
}

# certsync_bench SRC DST
certsync_bench() {
  CS_SRC=$1 CS_DST=$2
  SETUP_ERROR=''
  if ! certsync_setup; then
    log "certsync: setup failed: $SETUP_ERROR"
    result certsync status "failed: $SETUP_ERROR"
    certsync_teardown
    return 1
  fi
  run_rounds certsync "$CS_SRC" "$CS_DST"
  local rc=$?
  certsync_teardown
  return $rc
}
