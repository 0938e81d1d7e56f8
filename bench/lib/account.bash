# shellcheck shell=bash disable=SC2034  # TOOL_EXCLUDES and ROUND_* are read by run_rounds
# certsync account sync (docs/device.md "Account sync"), set up the way
# tests/integration/account_sync.sh does it: a hub on a free loopback port
# with one account, device A (the dataset as folder "bench") and device B (an
# empty folder), both logged in to the account; no agents and no enrollment.
# Each round is `certsync sync run bench` on A (upload), then on B (download)
# (bench/lib/account_round.py).

account_EXCLUDES=('.certsync-tmp-*')

acct_cs() { "$CERTSYNC" "$@"; }

account_setup() {
  local dir=$WORK/state who
  [ -x "$CERTSYNC" ] || { SETUP_ERROR="no certsync binary at $CERTSYNC (build it first)"; return 1; }
  mkdir -p "$dir"
  ACCT_HUB=$dir/hub ACCT_PORT=$(free_port) ACCT_PIDS=()
  ACCT_URL=https://127.0.0.1:$ACCT_PORT
  acct_cs hub init --data "$ACCT_HUB" --listen "127.0.0.1:$ACCT_PORT" >>"$dir/setup.log" 2>&1 ||
    { SETUP_ERROR="hub init failed (see $dir/setup.log)"; return 1; }
  # Started directly (not through acct_cs): $! must be the process whose CPU is read.
  "$CERTSYNC" hub serve --data "$ACCT_HUB" --log-level info >>"$dir/hub.log" 2>&1 &
  ACCT_HUB_PID=$!
  ACCT_PIDS+=("$ACCT_HUB_PID") BENCH_PIDS+=("$ACCT_HUB_PID")
  wait_until 20 curl -sfk "$ACCT_URL/healthz" -o /dev/null ||
    { SETUP_ERROR="the hub does not answer /healthz (see $dir/hub.log)"; return 1; }
  # as a long-running hub has by the time devices come (docs/ARCHITECTURE.md, Memory)
  wait_until 30 warmed "$dir/hub.log" ||
    { SETUP_ERROR="the hub did not log memory.warmed (see $dir/hub.log)"; return 1; }
  # The account's default argon2id cost: logins are not timed.
  printf 'certsync bench account password\n' >"$dir/password"
  chmod 600 "$dir/password"
  acct_cs hub account add bench --data "$ACCT_HUB" --password-file "$dir/password" >>"$dir/setup.log" 2>&1 ||
    { SETUP_ERROR="hub account add failed (see $dir/setup.log)"; return 1; }
  for who in A B; do
    acct_cs device init --data "$dir/$who" --name "$who" >>"$dir/setup.log" 2>&1 ||
      { SETUP_ERROR="device init $who failed (see $dir/setup.log)"; return 1; }
  done
  acct_cs folder add bench "$ACCT_SRC" --data "$dir/A" >>"$dir/setup.log" 2>&1 &&
    acct_cs folder add bench "$ACCT_DST" --data "$dir/B" >>"$dir/setup.log" 2>&1 ||
    { SETUP_ERROR="folder add failed (see $dir/setup.log)"; return 1; }
  for who in A B; do
    acct_cs account login --hub "$ACCT_URL" --account bench --ca "$ACCT_HUB/ca/ca.crt" \
      --password-file "$dir/password" --data "$dir/$who" >>"$dir/setup.log" 2>&1 ||
      { SETUP_ERROR="account login of device $who failed (see $dir/setup.log)"; return 1; }
  done
}

account_teardown() {
  local p
  for p in "${ACCT_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${ACCT_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ACCT_PIDS=()
}

# account_round ROUND: A's `sync run`, then B's; the JSON line of
# account_round.py goes to state/rounds.log.
account_round() {
  local out rc err=$WORK/state/round-$1.err k
  out=$("$PYTHON" "$BENCH/lib/account_round.py" "$CERTSYNC" bench "$WORK/state/A" "$WORK/state/B" \
    "$ACCT_URL" "$ACCT_HUB_PID" "$ROUND_TIMEOUT" 2>"$err")
  rc=$?
  echo "$1 $out" >>"$WORK/state/rounds.log"
  if [ $rc -ne 0 ]; then
    if [ -n "$out" ]; then
      ROUND_ERROR="$(jq_get "$out" reason)"
    else
      ROUND_ERROR="account_round.py: $(tail -1 "$err")"
    fi
    return 1
  fi
  # One python for every field (jq_get starts one per field).
  local fields
  fields=$("$PYTHON" -c '
import json, sys
r = json.loads(sys.argv[1])
a, b, h = r["a"], r["b"], r["hub"]
moved = sum(d[k] for d in (a, b) for k in ("bytes_up", "bytes_down"))
for k, v in (("secs", r["secs"]), ("bytes", moved),
             ("up_s", a["wall"]), ("down_s", b["wall"]),
             ("requests", a["requests"] + b["requests"]),
             ("a_requests", a["requests"]), ("b_requests", b["requests"]),
             ("a_bytes_up", a["bytes_up"]), ("a_bytes_down", a["bytes_down"]),
             ("b_bytes_up", b["bytes_up"]), ("b_bytes_down", b["bytes_down"]),
             ("a_pushed", a["pushed"]), ("a_pulled", a["pulled"]),
             ("b_pushed", b["pushed"]), ("b_pulled", b["pulled"]),
             ("conflicts", a["conflicts"] + b["conflicts"]),
             ("a_cpu_s", a["cpu"]), ("b_cpu_s", b["cpu"]),
             ("hub_cpu_s", h["cpu"]), ("hub_requests", h["requests"]),
             ("hub_received", h["received"]), ("hub_sent", h["sent"])):
    print(k, v)' "$out") || { ROUND_ERROR="cannot read the round's JSON: $out"; return 1; }
  while read -r k v; do
    case "$k" in
      secs) ROUND_SECS=$v ;;
      bytes) ROUND_BYTES=$v ;;
      *) result account "$1_$k" "$v" ;;
    esac
  done <<<"$fields"
}

# account_bench SRC DST
account_bench() {
  ACCT_SRC=$1 ACCT_DST=$2
  SETUP_ERROR=''
  if ! account_setup; then
    log "account: setup failed: $SETUP_ERROR"
    result account status "failed: $SETUP_ERROR"
    account_teardown
    return 1
  fi
  run_rounds account "$ACCT_SRC" "$ACCT_DST"
  local rc=$?
  account_teardown
  return $rc
}
