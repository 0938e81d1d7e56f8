#!/usr/bin/env bash
# Offline transfer with vouchers (DESIGN §9, PROTOCOL.md §13): loads at the
# hub, payments by file, socket and standard I/O, a chain A->B->C->A, the
# refusals, a rolled-back wallet that pays twice, transfers cut after every
# message and a payer killed mid-transfer; then every wallet syncs and the
# hub's ledger, the wallets and the total value must agree.
. "$(dirname "$0")/lib.bash"
t_setup wallet
PW=$T_DIR/password
printf 'correct horse battery staple\n' >"$PW"

W() { "$CERTSYNC" wallet "$@"; }
dev_login() { # dev_login NAME ACCOUNT
  "$CERTSYNC" device init --data "$T_DIR/$1" --name "$1" >/dev/null &&
    "$CERTSYNC" account login --hub "https://127.0.0.1:$HUB_PORT" --account "$2" \
      --ca "$HUB_DATA/ca/ca.crt" --password-file "$PW" --data "$T_DIR/$1" >/dev/null
}
bal() { W balance --json --data "$T_DIR/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["balance"])'; }
field() { W balance --json --data "$T_DIR/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
ledger() { hub wallet ledger --json; }
ledger_balance() { # ledger_balance NAME: what the hub says device NAME holds
  local id; id=$(field "$1" device)
  ledger | python3 -c "import json,sys; d=[x for x in json.load(sys.stdin)['devices'] if x['device']=='$id']; print(d[0]['balance'] if d else 0)"
}
online() { ledger | python3 -c "import json,sys; print([x['online_balance'] for x in json.load(sys.stdin)['accounts'] if x['account']=='$1'][0])"; }
conserved() { ledger | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["totals"]["conserved"] else 1)'; }
total_offline() { ledger | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["offline"])'; }

# pay_files PAYER RECEIVER AMOUNT [STOP]: the six messages by file, one run
# per step; with STOP=k the transfer is abandoned after message k.
pay_files() {
  local p=$T_DIR/$1 r=$T_DIR/$2 d=$T_DIR/msg-$1-$2-$RANDOM stop=${4:-7}
  mkdir -p "$d"
  W receive --amount "$3" --out "$d/1" --data "$r" 2>>"$T_DIR/steps.log" || return 1
  [ "$stop" -le 1 ] && return 0
  W pay --in "$d/1" --out "$d/2" --data "$p" 2>>"$T_DIR/steps.log" || return 1
  [ "$stop" -le 2 ] && return 0
  W receive --in "$d/2" --out "$d/3" --data "$r" 2>>"$T_DIR/steps.log" || return 1
  [ "$stop" -le 3 ] && return 0
  W pay --in "$d/3" --out "$d/4" --data "$p" 2>>"$T_DIR/steps.log" || return 1
  [ "$stop" -le 4 ] && return 0
  W receive --in "$d/4" --out "$d/5" --data "$r" 2>>"$T_DIR/steps.log" || return 1
  [ "$stop" -le 5 ] && return 0
  W pay --in "$d/5" --out "$d/6" --data "$p" 2>>"$T_DIR/steps.log" || return 1
  [ "$stop" -le 6 ] && return 0
  W receive --in "$d/6" --data "$r" 2>>"$T_DIR/steps.log"
  LAST_MSGS=$d
}

# refused RC OUTPUT CODE: refused with exit 3 and the code on stderr.
refused() { [ "$1" -eq 3 ] && printf '%s' "$2" | grep -q "refused: $3:"; }

hub_start || { t_fail "hub starts"; t_finish; exit 1; }
hub account add alice --password-file "$PW" --kdf-memory 8192 --kdf-time 1 >/dev/null
hub account add bob --password-file "$PW" --kdf-memory 8192 --kdf-time 1 >/dev/null
hub account credit alice 1000 >/dev/null
hub account credit bob 500 >/dev/null
for d in A B; do dev_login $d alice || t_fail "device $d logs in"; done
for d in C D; do dev_login $d bob || t_fail "device $d logs in"; done

# ---- online: loads and the first syncs (certificates)
out=$(W load --amount 300 --data "$T_DIR/A" 2>&1)
t_check "A loads 300 from alice: $out" [ "$(bal A)" = 300 ]
t_check "a second load makes a second voucher" W load --amount 50 --data "$T_DIR/A"
t_check "A holds 350 in 2 vouchers" [ "$(bal A)/$(field A vouchers)" = "350/2" ]
out=$(W load --amount 5000 --data "$T_DIR/C" 2>&1); rc=$?
t_check "a load above the account's balance is refused: $out" \
  bash -c "[ $rc -ne 0 ] && grep -q balance_insufficient <<<'$out'"
t_check "C loads 100 from bob" W load --amount 100 --data "$T_DIR/C"
for d in B D; do W sync --data "$T_DIR/$d" >/dev/null || t_fail "$d syncs"; done
t_check "hub: alice 650 online, bob 400" [ "$(online alice)/$(online bob)" = "650/400" ]

# ---- payments offline
pay_files A B 120
t_check "payment with change by file: A 230, B 120" [ "$(bal A)/$(bal B)" = "230/120" ]
t_check "message sizes are recorded" test -s "$LAST_MSGS/4"
pay_files B D 120
t_check "exact amount: B 0, D 120" [ "$(bal B)/$(bal D)" = "0/120" ]
pay_files A B 10
pay_files A B 20
pay_files B D 25
t_check "several vouchers: B paid 25 with two (20 + 5 of 10), D holds 145 in 3, B 5" \
  [ "$(bal D)/$(field D vouchers)/$(bal B)" = "145/3/5" ]

# the chain A -> B -> C -> A, by socket, standard I/O and file
W pay --listen "$T_DIR/a.sock" --data "$T_DIR/A" 2>>"$T_DIR/steps.log" &
PAYER=$!; T_PIDS+=("$PAYER")
t_wait 10 test -S "$T_DIR/a.sock"
t_check "A pays B 40 over a local socket" W receive --amount 40 --connect "$T_DIR/a.sock" --data "$T_DIR/B"
wait "$PAYER"; t_check "the payer's side completed too" [ $? -eq 0 ]
mkfifo "$T_DIR/f1" "$T_DIR/f2"
W pay --stdio --data "$T_DIR/B" <"$T_DIR/f1" >"$T_DIR/f2" 2>>"$T_DIR/steps.log" &
PAYER=$!; T_PIDS+=("$PAYER")
recv_stdio() { W receive --amount 30 --stdio --data "$T_DIR/C" >"$T_DIR/f1" <"$T_DIR/f2"; }
t_check "B pays C 30 over standard input and output" recv_stdio
wait "$PAYER"
pay_files C A 70
t_check "after A->B->C->A: A 230, B 15, C 60" [ "$(bal A)/$(bal B)/$(bal C)" = "230/15/60" ]

# ---- refusals, each with its own code, no balance moves
before="$(bal A)/$(bal B)/$(bal C)/$(bal D)"
d=$T_DIR/ref; mkdir -p "$d"
W receive --amount 5 --out "$d/1" --data "$T_DIR/B" 2>/dev/null
W pay --in "$d/1" --out "$d/2" --data "$T_DIR/A" 2>/dev/null
out=$(W pay --in "$d/1" --out "$d/x" --data "$T_DIR/A" 2>&1); rc=$?
t_check "a replayed init is refused (replayed): $out" refused $rc "$out" replayed
out=$(W pay --in "$d/2" --out "$d/x" --data "$T_DIR/A" 2>&1); rc=$?
t_check "an answer given to the payer is refused (wrong_order): $out" refused $rc "$out" wrong_order
cp "$d/2" "$d/2.bad"; printf '\x01' | dd of="$d/2.bad" bs=1 seek=20 conv=notrunc 2>/dev/null
out=$(W receive --in "$d/2.bad" --out "$d/x" --data "$T_DIR/B" 2>&1); rc=$?
t_check "an altered answer is refused (altered): $out" refused $rc "$out" altered
W receive --in "$d/2" --out "$d/3" --data "$T_DIR/B" 2>/dev/null
out=$(W pay --in "$d/3" --out "$d/x" --data "$T_DIR/C" 2>&1); rc=$?
t_check "an execute for a payer with no transfer in progress is refused (wrong_state): $out" \
  refused $rc "$out" wrong_state
out=$(W receive --in "$d/2" --out "$d/x" --data "$T_DIR/B" 2>&1); rc=$?
t_check "the receiver refuses an answer it handled already (replayed): $out" refused $rc "$out" replayed
W receive --amount 900 --out "$d/big" --data "$T_DIR/D" 2>/dev/null
out=$(W pay --in "$d/big" --out "$d/e" --data "$T_DIR/A" 2>&1); rc=$?
t_check "more than the balance is refused (balance_insufficient): $out" refused $rc "$out" balance_insufficient
out=$(W receive --in "$d/e" --data "$T_DIR/D" 2>&1); rc=$?
t_check "the receiver reads the payer's refusal (peer_refused): $out" refused $rc "$out" peer_refused
W limits --max-amount 100 --data "$T_DIR/A" >/dev/null
W receive --amount 150 --out "$d/lim" --data "$T_DIR/D" 2>/dev/null
out=$(W pay --in "$d/lim" --out "$d/x" --data "$T_DIR/A" 2>&1); rc=$?
t_check "an amount above the offline limit is refused (limit_amount): $out" refused $rc "$out" limit_amount
W limits --max-amount 10000 --data "$T_DIR/A" >/dev/null
t_check "no balance moved through the refusals" [ "$(bal A)/$(bal B)/$(bal C)/$(bal D)" = "$before" ]

# two processes handed the same execute at once: one pays, the other finds it handled
a0=$(bal A)
d=$T_DIR/race; mkdir -p "$d"
W receive --amount 7 --out "$d/1" --data "$T_DIR/B" 2>/dev/null
W pay --in "$d/1" --out "$d/2" --data "$T_DIR/A" 2>/dev/null
W receive --in "$d/2" --out "$d/3" --data "$T_DIR/B" 2>/dev/null
W pay --in "$d/3" --out "$d/4a" --data "$T_DIR/A" 2>"$d/a.err" & pa=$!
W pay --in "$d/3" --out "$d/4b" --data "$T_DIR/A" 2>"$d/b.err" & pb=$!
wait $pa; ra=$?; wait $pb; rb=$?
t_check "the same execute twice at once: one pays ($ra, $rb), the other is refused as replayed" \
  bash -c "[ \$(( ($ra == 0) + ($rb == 0) )) = 1 ] && cat '$d/a.err' '$d/b.err' | grep -q 'refused: replayed:'"
t_check "and A paid once ($a0 -> $(bal A))" [ "$(bal A)" = $((a0 - 7)) ]
for f in 4a 4b; do if [ -s "$d/$f" ] && [ "$(head -c 5 "$d/$f" | tail -c 1 | od -An -tu1 | tr -d " ")" = 4 ]; then cp "$d/$f" "$d/4"; fi; done
W receive --in "$d/4" --out "$d/5" --data "$T_DIR/B" 2>/dev/null && W pay --in "$d/5" --out "$d/6" --data "$T_DIR/A" \
  2>/dev/null && W receive --in "$d/6" --data "$T_DIR/B" 2>/dev/null || t_fail "the raced transfer completes"

# ---- a transfer cut after each message; the payer killed mid-transfer
for stop in 1 2 3 4 5 6; do pay_files A B 1 "$stop" || t_fail "cut after message $stop"; done
t_check "cut transfers: A paid 1 each time it answered execute (3 times)" [ "$(bal A)" = 220 ]
t_check "B raised its balance only when it sent complete (2 times)" [ "$(bal B)" = 24 ]
W pay --listen "$T_DIR/k.sock" --data "$T_DIR/A" 2>>"$T_DIR/steps.log" &
PAYER=$!; T_PIDS+=("$PAYER")
t_wait 10 test -S "$T_DIR/k.sock"
python3 - "$T_DIR/k.sock" "$PAYER" "$CERTSYNC" "$T_DIR/B" <<'PY' || t_fail "kill the payer between two messages"
# the receiver's side by hand: send init, read the answer, kill the payer
import os, signal, socket, subprocess, sys, time
sock, pid, exe, data = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
init = subprocess.run([exe, "wallet", "receive", "--amount", "3", "--out", "-", "--data", data],
                      capture_output=True, check=True).stdout
s = socket.socket(socket.AF_UNIX); s.connect(sock); s.sendall(init)
head = s.recv(9, socket.MSG_WAITALL); n = int.from_bytes(head[5:9], "big")
s.recv(n + 32, socket.MSG_WAITALL)
os.kill(pid, signal.SIGKILL)
PY
wait "$PAYER" 2>/dev/null
t_check "the killed payer lost nothing (220)" [ "$(bal A)" = 220 ]
t_check "the payer restarts and pays again" pay_files A B 4
t_check "A 216, B 28" [ "$(bal A)/$(bal B)" = "216/28" ]

# ---- a wallet rolled back to an earlier copy pays twice with the same vouchers
cp -a "$T_DIR/D" "$T_DIR/D.copy"
pay_files D A 100
rm -rf "$T_DIR/D"; cp -a "$T_DIR/D.copy" "$T_DIR/D"
pay_files D B 110
t_check "the rolled-back D paid both A and B" [ "$(bal A)/$(bal B)" = "316/138" ]

# ---- everyone syncs: the ledger and each wallet agree, value is conserved
for d in A B C D A B C D; do W sync --data "$T_DIR/$d" >"$T_DIR/sync-$d.out" 2>&1 || t_fail "$d syncs: $(cat "$T_DIR/sync-$d.out")"; done
for d in A B C D; do
  t_check "wallet $d agrees with the hub's ledger ($(bal $d))" [ "$(bal $d)" = "$(ledger_balance $d)" ]
done
t_check "value in flight reached B: the cut transfer A executed and B never saw (138 + 1)" [ "$(bal B)" = 139 ]
t_check "the ledger's totals are conserved" conserved
t_check "offline value equals the sum of the wallets" \
  [ "$(total_offline)" = "$(( $(bal A) + $(bal B) + $(bal C) + $(bal D) ))" ]
conf=$(hub wallet conflicts --json)
t_check "reconciliation flags D's double spend" \
  python3 -c "import json,sys; c=json.loads(sys.argv[1]); sys.exit(0 if len(c)==1 and c[0]['payer']=='$(field D device)' else 1)" "$conf"
t_check "the conflict shows two transfers signed by D, to A and to B" python3 - "$conf" \
  "$(field D device)" "$(field A device)" "$(field B device)" "$HUB_DATA" <<'PY'
import base64, json, subprocess, sys, tempfile, os
c = json.loads(sys.argv[1])[0]; d, a, b, hub = sys.argv[2:6]
f, s = c["first"], c["second"]
assert f["payer"] == s["payer"] == d, "both links are D's"
assert {f["payee"], s["payee"]} == {a, b}, "one to A, one to B"
assert f["link"] != s["link"] and f["transfer"] != s["transfer"]
# each signature verifies with D's certificate over the signed body
import sqlite3
cert = sqlite3.connect(os.path.join(hub, "hub.db")).execute(
    "SELECT cert FROM wallet_devices WHERE device = ?", (d,)).fetchone()[0]
with tempfile.TemporaryDirectory() as t:
    open(f"{t}/c.der", "wb").write(cert)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", f"{t}/c.der", "-pubkey", "-noout",
                    "-out", f"{t}/pub.pem"], check=True)
    for l in (f, s):
        open(f"{t}/body", "wb").write(base64.b64decode(l["body"]))
        open(f"{t}/sig", "wb").write(base64.b64decode(l["signature"]))
        subprocess.run(["openssl", "dgst", "-sha256", "-verify", f"{t}/pub.pem", "-signature",
                        f"{t}/sig", f"{t}/body"], check=True, capture_output=True)
PY
t_check "D's sync reports the double spend" grep -q 'DOUBLE SPENDING' "$T_DIR/sync-D.out"
t_check "bob's account was charged the double-spent value (120)" [ "$(online bob)" = 280 ]
t_check "the hub kept serving: healthz" curl -sfk "https://127.0.0.1:$HUB_PORT/healthz" -o /dev/null
t_check "/metrics counts the double spend" [ "$(metric certsync_hub_wallet_double_spends_total)" = 1 ]
t_check "/metrics counts the wallet syncs ($(metric 'certsync_hub_wallet_requests_total{call="sync",result="ok"}'))" \
  [ "$(metric 'certsync_hub_wallet_requests_total{call="sync",result="ok"}')" -ge 10 ]

# ---- a long chain is renewed at sync: 32 payments grow E's change coin
maxlinks() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT MAX(links) FROM coins WHERE renewing = 0').fetchone()[0] or 0)" "$T_DIR/$1/wallet.db"; }
dev_login E alice && W load --amount 100 --data "$T_DIR/E" >/dev/null || t_fail "E loads 100"
for i in $(seq 1 32); do
  W pay --listen "$T_DIR/r.sock" --data "$T_DIR/E" 2>/dev/null &
  PAYER=$!
  t_wait 10 test -S "$T_DIR/r.sock"
  W receive --amount 1 --connect "$T_DIR/r.sock" --data "$T_DIR/B" 2>/dev/null || t_fail "payment $i of 32"
  wait "$PAYER"; rm -f "$T_DIR/r.sock"
done
t_check "E's change coin carries 32 links ($(maxlinks E))" [ "$(maxlinks E)" -eq 32 ]
out=$(W sync --data "$T_DIR/E" 2>&1)
t_check "E's sync renews it: $out" grep -q 'renewed  *1 ' <<<"$out"
t_check "E now holds a fresh voucher ($(maxlinks E) links)" [ "$(maxlinks E)" -eq 0 ]
t_check "renewal kept E's balance (68)" [ "$(bal E)" = 68 ]
t_check "E's history shows the renewal" bash -c "\"$CERTSYNC\" wallet history --data '$T_DIR/E' | grep -q renewed"
W sync --data "$T_DIR/B" >/dev/null
t_check "after the renewal E and B agree with the ledger" \
  [ "$(bal E)/$(bal B)" = "$(ledger_balance E)/$(ledger_balance B)" ]
t_check "and value is conserved" conserved
t_check "E pays from the renewed voucher" pay_files E C 5

# ---- a tampered voucher upload is refused and changes nothing
before=$(ledger | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"])')
python3 - "$T_DIR/A/wallet.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); st, coin = db.execute("SELECT state, coin FROM coins LIMIT 1").fetchone()
coin = bytearray(coin); coin[40] ^= 1
db.execute("UPDATE coins SET coin = ? WHERE state = ?", (bytes(coin), st)); db.commit()
PY
out=$(W sync --data "$T_DIR/A" 2>&1); rc=$?
t_check "a sync with a tampered voucher is refused: $out" bash -c "[ $rc -ne 0 ] && grep -q voucher_invalid <<<'$out'"
t_check "and the ledger did not change" [ "$(ledger | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"])')" = "$before" ]

t_finish
