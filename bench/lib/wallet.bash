# shellcheck shell=bash
# Offline transfer (DESIGN §9, issue 6): completed transfers per second and
# message sizes. Two measurements, reported under the pseudo-dataset
# "wallet":
#   in-process  build/wallet_bench: two wallets exchange the six messages in
#               memory (every signature, MAC and durable commit, no processes);
#   commands    a hub with one account and two logged-in devices, as
#               tests/integration/wallet.sh sets it up; each transfer is
#               `wallet pay --listen` + `wallet receive --connect` over a local
#               socket (two processes per transfer), then one `wallet sync`
#               of each device uploads and settles all of them.

WALLET_TRANSFERS=${WALLET_TRANSFERS:-400}   # in-process
WALLET_CLI_TRANSFERS=${WALLET_CLI_TRANSFERS:-60}

wl_cs() { "$CERTSYNC" "$@"; }

wallet_all() {
  local dir=$WORK/state bin t0 t1 i k v
  mkdir -p "$dir"
  [ "$QUICK" -eq 1 ] && WALLET_TRANSFERS=100 WALLET_CLI_TRANSFERS=20
  # ---- in-process
  bin=${WALLET_BENCH:-$(dirname "$CERTSYNC_BUILT")/wallet_bench}
  [ -x "$bin" ] || { result wallet status "failed: no wallet_bench at $bin (build it first)"; return 1; }
  while read -r k v; do result wallet "lib_$k" "$v"; done < <("$bin" "$dir/lib" "$WALLET_TRANSFERS" 2>>"$dir/lib.err") ||
    { result wallet status "failed: wallet_bench (see $dir/lib.err)"; return 1; }
  # ---- the commands, over a local socket
  local hub=$dir/hub port url
  port=$(free_port) url=https://127.0.0.1:$port
  wl_cs hub init --data "$hub" --listen "127.0.0.1:$port" >>"$dir/setup.log" 2>&1 || return 1
  "$CERTSYNC" hub serve --data "$hub" --log-level warn >>"$dir/hub.log" 2>&1 &
  BENCH_PIDS+=("$!")
  local hub_pid=$!
  wait_until 20 curl -sfk "$url/healthz" -o /dev/null || { result wallet status "failed: hub"; return 1; }
  printf 'certsync bench wallet password\n' >"$dir/password"
  wl_cs hub account add bench --data "$hub" --password-file "$dir/password" --kdf-memory 8192 --kdf-time 1 \
    >>"$dir/setup.log" 2>&1 && wl_cs hub account credit bench 1000000 --data "$hub" >>"$dir/setup.log" 2>&1 || return 1
  for who in A B; do
    wl_cs device init --data "$dir/$who" --name "$who" >>"$dir/setup.log" 2>&1 &&
      wl_cs account login --hub "$url" --account bench --ca "$hub/ca/ca.crt" --password-file "$dir/password" \
        --data "$dir/$who" >>"$dir/setup.log" 2>&1 || { result wallet status "failed: login $who"; return 1; }
  done
  # 64 vouchers each, so no chain reaches the renewal length during the run
  for i in $(seq 1 64); do
    wl_cs wallet load --amount 1000 --data "$dir/A" >>"$dir/setup.log" 2>&1 &&
      wl_cs wallet load --amount 1000 --data "$dir/B" >>"$dir/setup.log" 2>&1 || { result wallet status "failed: load"; return 1; }
  done
  t0=$(now)
  for i in $(seq 1 "$WALLET_CLI_TRANSFERS"); do
    local p=A r=B
    [ $((i % 2)) -eq 0 ] && p=B r=A
    rm -f "$dir/s.sock"
    wl_cs wallet pay --listen "$dir/s.sock" --data "$dir/$p" 2>>"$dir/pay.log" &
    local pp=$!
    # a tight wait: the payer listens within milliseconds, and a 0.1 s poll
    # would be most of what is measured
    local tries=0
    while [ ! -S "$dir/s.sock" ] && [ $tries -lt 2000 ]; do sleep 0.005; tries=$((tries + 1)); done
    wl_cs wallet receive --amount 3 --connect "$dir/s.sock" --data "$dir/$r" 2>>"$dir/receive.log" ||
      { result wallet status "failed: transfer $i (see $dir/receive.log)"; kill "$pp" 2>/dev/null; return 1; }
    wait "$pp" || { result wallet status "failed: payer of transfer $i"; return 1; }
  done
  t1=$(now)
  result wallet cli_transfers "$WALLET_CLI_TRANSFERS"
  result wallet cli_s "$(elapsed "$t0" "$t1")"
  t0=$(now)
  wl_cs wallet sync --data "$dir/A" >>"$dir/sync.log" 2>&1 && wl_cs wallet sync --data "$dir/B" >>"$dir/sync.log" 2>&1 ||
    { result wallet status "failed: sync (see $dir/sync.log)"; return 1; }
  t1=$(now)
  result wallet sync_s "$(elapsed "$t0" "$t1")"
  local ok
  ok=$(wl_cs hub wallet ledger --json --data "$hub" | "$PYTHON" -c 'import json,sys; print(1 if json.load(sys.stdin)["totals"]["conserved"] else 0)')
  result wallet cli_conserved "$ok"
  kill "$hub_pid" 2>/dev/null; wait "$hub_pid" 2>/dev/null
  result wallet status ok
}
