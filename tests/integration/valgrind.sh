#!/usr/bin/env bash
# The hub and two agents under valgrind through a small relay sync; then
# account sync (PROTOCOL.md §11) with the same hub: 'hub account add', and two
# devices that each log in and run 'sync run' under valgrind, with a
# conflicting edit; then backup to a paired terminal (PROTOCOL.md §12): a
# 'backup terminal' of the same account under valgrind, and a device's 'backup
# push', 'backup list' and 'backup restore' under valgrind, each with a fresh
# code; then offline transfer (PROTOCOL.md §13): 'wallet load', 'wallet sync',
# a payment over a local socket ('wallet pay' and 'wallet receive'), a
# refused replay and the settling syncs, each under valgrind; then a center
# and an edge of the verification cluster (PROTOCOL.md §14) under valgrind: an
# administrator's add, a verification that fetches, one from the store, a
# miss, a bad request and a batch; then a graceful stop (SIGTERM). Every process run under valgrind: no memory error, no
# definite leak.
. "$(dirname "$0")/lib.bash"
t_setup valgrind
command -v valgrind >/dev/null || { echo "valgrind missing"; t_fail "valgrind installed"; t_finish; exit 1; }

REAL=$CERTSYNC
WRAP=$T_DIR/certsync-vg
cat > "$WRAP" <<SH
#!/usr/bin/env bash
case "\$1 \$2" in
  "hub serve"|"agent run"|"hub account"|"account login"|"sync run"|"backup "*|"wallet "*|"sigd serve")
    exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
      --show-leak-kinds=definite --log-file="$T_DIR/vg-\$1-\$2-%p.log" "$REAL" "\$@" ;;
  *) exec "$REAL" "\$@" ;;
esac
SH
chmod +x "$WRAP"
CERTSYNC=$WRAP

hub_start || { t_fail "hub starts under valgrind"; t_finish; exit 1; }
for d in A B; do
  device_new $d && folder_add $d docs "$T_DIR/$d-docs" >/dev/null || { t_fail "enroll $d"; t_finish; exit 1; }
done
mkdir -p "$T_DIR/A-docs/sub"
# over 4 MiB: the destination flushes it in the background while writing it
head -c 9000000 /dev/urandom > "$T_DIR/A-docs/sub/data.bin"
echo hello > "$T_DIR/A-docs/hello.txt"
agent_start A
agent_start B
job=$(hub sync --folder docs --from "$ID_A" --to "$ID_B")
st=$(job_wait "$job" 240)
t_check "sync under valgrind: $st" [ "$st" = done ]
t_check "trees equal" trees_equal "$T_DIR/A-docs" "$T_DIR/B-docs"

# ---- account sync through the same hub (the commands of account_sync.sh)
PW=$T_DIR/password
printf 'correct horse battery staple\n' >"$PW"
HUB_URL=https://127.0.0.1:$HUB_PORT
out=$(hub account add alice --password-file "$PW" --kdf-memory 8192 --kdf-time 1 2>&1)
t_check "hub account add under valgrind: $out" [ $? -eq 0 ]
acct_login() { # acct_login NAME: a device with folder docs in $T_DIR/NAME-docs, logged in
  "$REAL" device init --data "$T_DIR/$1" --name "$1" >/dev/null &&
    "$REAL" folder add docs "$T_DIR/$1-docs" --data "$T_DIR/$1" >/dev/null &&
    "$CERTSYNC" account login --hub "$HUB_URL" --account alice --ca "$HUB_DATA/ca/ca.crt" \
      --password-file "$PW" --data "$T_DIR/$1" >>"$T_DIR/account.log" 2>&1
}
# files_sig DIR (as in account_sync.sh): files with mode, size, mtime and
# hash, directories with their mode (account sync keeps no directory mtimes)
files_sig() {
  (cd "$1" && find . -mindepth 1 ! -name '.certsync-tmp-*' \( -type f -printf '%P\tf\t%m\t%s\t%T@\n' \
    -o -type d -printf '%P\td\t%m\t-\t-\n' \) | LC_ALL=C sort |
    while IFS=$'\t' read -r p y m s t; do
      if [ "$y" = f ]; then h=$(sha256sum "$p" | cut -c1-64); else h=-; fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$y" "$m" "$s" "$t" "$h"
    done)
}
same_files() { diff <(files_sig "$1") <(files_sig "$2"); }
sync_run() { # sync_run NAME: one 'sync run docs' under valgrind, output in account.log
  echo "## sync run $1" >>"$T_DIR/account.log"
  "$CERTSYNC" sync run docs --data "$T_DIR/$1" >>"$T_DIR/account.log" 2>&1
}
for d in C D; do t_check "device $d logs in under valgrind" acct_login $d; done
mkdir -p "$T_DIR/C-docs/sub"
head -c 300000 /dev/urandom >"$T_DIR/C-docs/sub/blob.bin"
echo "notes of C" >"$T_DIR/C-docs/notes.txt"
echo "shared v0" >"$T_DIR/C-docs/shared.txt"
t_check "C's first account sync (push) under valgrind" sync_run C
t_check "D's first account sync (pull) under valgrind" sync_run D
t_check "D holds C's tree" same_files "$T_DIR/C-docs" "$T_DIR/D-docs"
echo "edited on C" >"$T_DIR/C-docs/shared.txt"
echo "edited on D" >"$T_DIR/D-docs/shared.txt"
echo "only on D" >"$T_DIR/D-docs/only-d.txt"
sleep 2.1 # past the scanner's 2-second window for recently modified files
t_check "C syncs its edit under valgrind" sync_run C
t_check "D syncs into the conflict under valgrind" sync_run D
t_check "C syncs again under valgrind" sync_run C
t_check "after the conflict both trees are equal" same_files "$T_DIR/C-docs" "$T_DIR/D-docs"
for who in C D; do
  d=$T_DIR/$who-docs
  t_check "$who holds C's edit at the path and D's new file" bash -c \
    "grep -qx 'edited on C' '$d/shared.txt' && [ -f '$d/only-d.txt' ]"
  t_check "$who keeps D's edit as a conflict copy" bash -c \
    "grep -lx 'edited on D' '$d'/shared.sync-conflict-*.txt >/dev/null"
done

# ---- backup to a paired terminal and restore (the commands of backup.sh)
for d in term phone; do # logged in to alice without valgrind (login is covered above)
  "$REAL" device init --data "$T_DIR/$d" --name "$d" >/dev/null &&
    "$REAL" account login --hub "$HUB_URL" --account alice --ca "$HUB_DATA/ca/ca.crt" \
      --password-file "$PW" --data "$T_DIR/$d" >>"$T_DIR/account.log" 2>&1 || t_fail "$d logs in"
done
STORE=$T_DIR/store
"$CERTSYNC" backup terminal --dir "$STORE" --data "$T_DIR/term" --listen 127.0.0.1:0 \
  >"$T_DIR/terminal.out" 2>"$T_DIR/terminal.log" &
TERM_PID=$!
T_PIDS+=("$TERM_PID")
t_check "the terminal shows a code under valgrind" t_wait 60 test -s "$STORE/pairing.txt"
# next_code OLD: wait until the terminal shows a code other than OLD
next_code() { t_wait 60 bash -c "[ \"\$(cat '$STORE/pairing.txt' 2>/dev/null)\" != '$1' ]"; }
BSRC=$T_DIR/backup-src
mkdir -p "$BSRC/photos" "$BSRC/docs/empty"
head -c 307200 /dev/urandom >"$BSRC/photos/blob.bin"
echo "backed-up note" >"$BSRC/docs/note.txt"
printf 'line 1\nline 2\n' >"$BSRC/docs/two-lines.txt"
: >"$BSRC/zero"
chmod 600 "$BSRC/docs/note.txt"
c=$(cat "$STORE/pairing.txt")
out=$("$CERTSYNC" backup push --pairing "$c" "$BSRC" --data "$T_DIR/phone" --json 2>&1); rc=$?
t_check "backup push under valgrind: $out" [ $rc -eq 0 ]
BID=$(echo "$out" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup"])' 2>/dev/null)
t_check "the terminal shows a new code after the push" next_code "$c"
c=$(cat "$STORE/pairing.txt")
out=$("$CERTSYNC" backup list --pairing "$c" --data "$T_DIR/phone" 2>&1); rc=$?
shows() { [ "$1" -eq 0 ] && [ -n "$3" ] && printf '%s\n' "$2" | grep -qF -- "$3"; } # shows RC OUTPUT TEXT
t_check "backup list under valgrind shows the backup ${BID:-?}: $out" shows "$rc" "$out" "$BID"
t_check "the terminal shows a new code after the list" next_code "$c"
c=$(cat "$STORE/pairing.txt")
out=$("$CERTSYNC" backup restore --pairing "$c" --backup "$BID" "$T_DIR/restored" --data "$T_DIR/phone" 2>&1); rc=$?
t_check "backup restore under valgrind: $out" [ $rc -eq 0 ]
t_check "the restored files equal the backed-up ones" same_files "$BSRC" "$T_DIR/restored"
# ---- offline transfer between the two devices of alice (the commands of wallet.sh)
"$REAL" hub account credit alice 100 --data "$HUB_DATA" >/dev/null || t_fail "credit alice"
W() { "$CERTSYNC" wallet "$@"; }
t_check "wallet load under valgrind" W load --amount 60 --data "$T_DIR/phone"
t_check "wallet sync (a certificate) under valgrind" W sync --data "$T_DIR/term"
W pay --listen "$T_DIR/pay.sock" --data "$T_DIR/phone" 2>>"$T_DIR/wallet.log" &
PAY_PID=$!
t_wait 30 test -S "$T_DIR/pay.sock"
t_check "wallet receive under valgrind, over a local socket" \
  W receive --amount 25 --connect "$T_DIR/pay.sock" --data "$T_DIR/term"
wait "$PAY_PID"; t_check "wallet pay under valgrind completed" [ $? -eq 0 ]
W receive --amount 5 --out "$T_DIR/w1" --data "$T_DIR/term" 2>>"$T_DIR/wallet.log"
W pay --in "$T_DIR/w1" --out "$T_DIR/w2" --data "$T_DIR/phone" 2>>"$T_DIR/wallet.log"
W pay --in "$T_DIR/w1" --out "$T_DIR/w3" --data "$T_DIR/phone" 2>>"$T_DIR/wallet.log"
t_check "a replayed init refused under valgrind (exit 3)" [ $? -eq 3 ]
t_check "wallet sync of both under valgrind" bash -c "'$CERTSYNC' wallet sync --data '$T_DIR/phone' >/dev/null &&
  '$CERTSYNC' wallet sync --data '$T_DIR/term' >/dev/null"
t_check "balances 35 and 25 after the transfer" [ "$("$REAL" wallet balance --json --data "$T_DIR/phone" | \
  python3 -c 'import json,sys; print(json.load(sys.stdin)["balance"])')/$("$REAL" wallet balance --json \
  --data "$T_DIR/term" | python3 -c 'import json,sys; print(json.load(sys.stdin)["balance"])')" = 35/25 ]

# ---- the verification cluster: a center and an edge under valgrind
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/anchor.key" \
  -out "$T_DIR/anchor.crt" -subj "/CN=anchor" -days 30 -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_DIR/signer.key" \
  -out "$T_DIR/signer.csr" -subj "/CN=signer" 2>/dev/null
openssl x509 -req -in "$T_DIR/signer.csr" -CA "$T_DIR/anchor.crt" -CAkey "$T_DIR/anchor.key" \
  -CAcreateserial -out "$T_DIR/signer.crt" -days 10 2>/dev/null
echo "signed text" >"$T_DIR/signed.txt"
openssl dgst -sha256 -sign "$T_DIR/signer.key" -out "$T_DIR/signed.sig" "$T_DIR/signed.txt"
SC=$(t_free_port) SE=$(t_free_port)
"$REAL" sigd init --data "$T_DIR/sc" --cluster-ca "$T_DIR/sca" --name sc --listen "127.0.0.1:$SC" \
  --trust-anchor "$T_DIR/anchor.crt" >/dev/null &&
"$REAL" sigd init --data "$T_DIR/se" --cluster-ca "$T_DIR/sca" --name se --role edge --listen "127.0.0.1:$SE" \
  --peer "https://127.0.0.1:$SC" --trust-anchor "$T_DIR/anchor.crt" >/dev/null || t_fail "sigd init"
for n in sc se; do
  "$CERTSYNC" sigd serve --config "$T_DIR/$n/sigd.json" >>"$T_DIR/sigd.log" 2>&1 &
  printf -v "SIGD_$n" '%s' "$!"
done
for p in $SC $SE; do t_wait 60 curl -sfk "https://127.0.0.1:$p/healthz" -o /dev/null || t_fail "sigd node $p answers"; done
t_wait 30 bash -c "curl -sk https://127.0.0.1:$SE/metrics | grep -q 'peer_up{peer=\"https://127.0.0.1:$SC\"} 1'"
"$REAL" sigd cert add --node "https://127.0.0.1:$SC" --cluster-ca "$T_DIR/sca" "$T_DIR/signer.crt" >/dev/null ||
  t_fail "sigd cert add"
sv() { "$REAL" sigd verify --node "https://127.0.0.1:$SE" --cluster-ca "$T_DIR/sca" "$@" 2>&1; }
out=$(sv --cert-file "$T_DIR/signer.crt" --data "$T_DIR/signed.txt" --signature "$T_DIR/signed.sig")
t_check "the edge under valgrind fetches from the center under valgrind: $out" grep -q fetched <<<"$out"
out=$(sv --cert-file "$T_DIR/signer.crt" --data "$T_DIR/signed.txt" --signature "$T_DIR/signed.sig")
t_check "then verifies from its store: $out" grep -q local <<<"$out"
out=$(sv --cert 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff --data "$T_DIR/signed.txt" \
  --signature "$T_DIR/signed.sig")
t_check "a miss: $out" grep -q cert_unknown <<<"$out"
st=$(curl -sk -o /dev/null -w '%{http_code}' -X POST --data '{"cert":' "https://127.0.0.1:$SE/v1/verify")
t_check "a malformed request: $st" [ "$st" = 400 ]
FP=$(openssl x509 -in "$T_DIR/signer.crt" -outform DER | sha256sum | cut -c1-64)
D=$(base64 -w0 "$T_DIR/signed.txt") S=$(base64 -w0 "$T_DIR/signed.sig")
st=$(curl -sk -o /dev/null -w '%{http_code}' -X POST --data \
  "{\"items\":[{\"cert\":\"$FP\",\"alg\":\"ecdsa-p256-sha256\",\"data\":\"$D\",\"signature\":\"$S\"},{\"cert\":\"$FP\",\"alg\":\"x\",\"data\":\"$D\",\"signature\":\"$S\"}]}" \
  "https://127.0.0.1:$SE/v1/verify")
t_check "a batch: $st" [ "$st" = 200 ]
for n in sc se; do v=SIGD_$n; kill -TERM "${!v}"; done
for n in sc se; do v=SIGD_$n; wait "${!v}"; t_check "sigd $n stops on SIGTERM with status 0" [ $? -eq 0 ]; done

kill -TERM "$TERM_PID"
start=$SECONDS
wait "$TERM_PID"; rc=$?
secs=$((SECONDS - start))
t_check "the terminal stops on SIGTERM with status 0 ($rc) within 15 s ($secs s)" \
  test "$rc" -eq 0 -a "$secs" -le 15

for p in "$AGENT_A" "$AGENT_B" "$HUB_PID"; do kill -TERM "$p" 2>/dev/null; done
start=$SECONDS
for p in "$AGENT_A" "$AGENT_B" "$HUB_PID"; do wait "$p"; echo "# process $p exited with $?"; done
t_check "graceful stop within 15 s ($((SECONDS - start)) s)" [ $((SECONDS - start)) -le 15 ]
# one log per process run under valgrind (empty unless valgrind reported)
count() { local f n=0; for f in "$T_DIR"/vg-$1-*.log; do [ -e "$f" ] && n=$((n + 1)); done; echo $n; }
t_check "processes under valgrind: hub serve $(count hub-serve), agent run $(count agent-run), \
hub account $(count hub-account), account login $(count account-login), sync run $(count sync-run), \
backup terminal $(count backup-terminal), push $(count backup-push), list $(count backup-list), \
restore $(count backup-restore), wallet load $(count wallet-load), sync $(count wallet-sync), \
pay $(count wallet-pay), receive $(count wallet-receive), sigd serve $(count sigd-serve)" \
  [ "$(count hub-serve) $(count agent-run) $(count hub-account) $(count account-login) $(count sync-run) \
$(count backup-terminal) $(count backup-push) $(count backup-list) $(count backup-restore) \
$(count wallet-load) $(count wallet-sync) $(count wallet-pay) $(count wallet-receive) $(count sigd-serve)" = \
"1 2 1 2 5 1 1 1 1 1 3 3 2 2" ]
errors=$(grep -H . "$T_DIR"/vg-*.log 2>/dev/null)
if [ -z "$errors" ]; then
  t_ok "valgrind reports no error and no definite leak"
else
  t_fail "valgrind reports: $errors"
fi
t_finish
