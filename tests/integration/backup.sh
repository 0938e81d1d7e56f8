#!/usr/bin/env bash
# Backup to a paired terminal and restore by identifier (DESIGN §8,
# PROTOCOL.md §12): the QR code, the handshake and each of its refusals,
# dedup on a second backup, resume after a kill, restore rules.
. "$(dirname "$0")/lib.bash"
t_setup backup
HERE=$(cd "$(dirname "$0")" && pwd)
PW=$T_DIR/password
printf 'correct horse battery staple\n' >"$PW"

acct_login() { # acct_login NAME ACCOUNT
  "$CERTSYNC" device init --data "$T_DIR/$1" --name "$1" >/dev/null &&
    "$CERTSYNC" account login --hub "https://127.0.0.1:$HUB_PORT" --account "$2" \
      --ca "$HUB_DATA/ca/ca.crt" --password-file "$PW" --data "$T_DIR/$1" >/dev/null
}
code() { cat "$STORE/pairing.txt"; }
# next_code OLD: wait until the terminal shows a code other than OLD.
next_code() { t_wait 10 bash -c "[ \"\$(cat '$STORE/pairing.txt' 2>/dev/null)\" != '$1' ]"; }
push() { "$CERTSYNC" backup push --data "$T_DIR/phone" "$@"; }
refused() { [ "$1" -ne 0 ] && printf '%s' "$2" | grep -q -- "$3"; } # refused RC OUTPUT PATTERN

hub_start || { t_fail "hub starts"; t_finish; exit 1; }
hub account add alice --password-file "$PW" --kdf-memory 8192 --kdf-time 1 >/dev/null
hub account add bob --password-file "$PW" --kdf-memory 8192 --kdf-time 1 >/dev/null
acct_login term alice && acct_login phone alice && acct_login other bob || t_fail "devices log in"

STORE=$T_DIR/store
"$CERTSYNC" backup terminal --dir "$STORE" --data "$T_DIR/term" --listen 127.0.0.1:0 --ttl 600 \
  >"$T_DIR/terminal.out" 2>"$T_DIR/terminal.log" &
TERM_PID=$!
T_PIDS+=("$TERM_PID")
t_check "the terminal shows a code" t_wait 20 test -s "$STORE/pairing.txt"
t_check "the terminal printed the QR code in the terminal" grep -q '█' "$T_DIR/terminal.out"
C1=$(code)
t_check "zbarimg decodes the PNG into exactly the printed code" \
  [ "$(zbarimg --nodbus --raw -q "$STORE/pairing.png" | tr -d '\n')" = "$C1" ]
t_check "the printed code is the one on the terminal's output" grep -qF "$C1" "$T_DIR/terminal.out"

# ---- data: nested folders, a 6 MiB file, a marker
SRC=$T_DIR/src
MARKER="certsync-backup-marker-$$-$RANDOM"
mkdir -p "$SRC/photos/2026" "$SRC/docs" "$SRC/empty"
echo "$MARKER" >"$SRC/docs/secret.txt"
head -c 6000000 /dev/urandom >"$SRC/photos/2026/big.jpg"
for i in 1 2 3 4 5; do echo "note $i" >"$SRC/docs/note-$i.txt"; done
: >"$SRC/zero"

# ---- refusals, each before any data moves
out=$("$CERTSYNC" backup push --data "$T_DIR/other" --pairing "$C1" "$SRC" 2>&1); rc=$?
t_check "a device of another account is refused: $out" refused "$rc" "$out" pairing_other_account
t_check "nothing stored after the refusal" bash -c "[ -z \"\$(find '$STORE/chunks' -type f 2>/dev/null)\" ]"

out=$(push --pairing-image "$STORE/pairing.png" --json "$SRC" 2>&1); rc=$?
t_check "push with the QR image: $out" [ $rc -eq 0 ]
B1=$(echo "$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["backup"])' 2>/dev/null)
next_code "$C1"
out=$(push --pairing "$C1" "$SRC" 2>&1); rc=$?
t_check "a reused code is refused: $out" refused "$rc" "$out" pairing_used

# a terminal whose certificate is not the one in the code
C2=$(code)
python3 - "$C2" >"$T_DIR/wrong-fp.code" <<'PY'
import base64, sys
t = sys.argv[1]; body = t[5:]
raw = bytearray(base64.b32decode(body + "=" * (-len(body) % 8)))
# u8 version, string id (u32 + 32), secret 32, then the fingerprint
raw[1 + 4 + 32 + 32] ^= 1
print("CSB1:" + base64.b32encode(bytes(raw)).decode().rstrip("="))
PY
out=$(push --pairing "$(cat "$T_DIR/wrong-fp.code")" "$SRC" 2>&1); rc=$?
t_check "a terminal whose fingerprint differs from the code is refused: $out" \
  refused "$rc" "$out" 'not .* from the code'

# forged first and second verification information, by a man in the middle
# that holds the terminal's own TLS identity
MITM_PORT=$(t_free_port)
TERM_PORT=$(python3 - "$C2" <<'PY'
import base64, struct, sys
t = sys.argv[1]; body = t[5:]
raw = base64.b32decode(body + "=" * (-len(body) % 8))
i = 1; n = struct.unpack(">I", raw[i:i+4])[0]; i += 4 + n + 32 + 32 + 8
count = raw[i]; i += 1; n = struct.unpack(">I", raw[i:i+4])[0]
print(raw[i+4:i+4+n].decode().rsplit(":", 1)[1])
PY
)
forged_code() { # the current code, pointing at the man in the middle
  python3 - "$(code)" "$MITM_PORT" <<'PY'
import base64, struct, sys
t, port = sys.argv[1], sys.argv[2]; body = t[5:]
raw = bytearray(base64.b32decode(body + "=" * (-len(body) % 8)))
i = 1; n = struct.unpack(">I", raw[i:i+4])[0]; i += 4 + n + 32 + 32 + 8
head = bytes(raw[:i]); addr = ("127.0.0.1:%s" % port).encode()
print("CSB1:" + base64.b32encode(head + bytes([1]) + struct.pack(">I", len(addr)) + addr).decode().rstrip("="))
PY
}
for what in first second; do
  python3 "$HERE/backup_mitm.py" "$MITM_PORT" "$TERM_PORT" "$STORE/tls/server.crt" "$STORE/tls/server.key" \
    "$what" 2>>"$T_DIR/mitm.log" &
  MITM_PID=$!
  t_wait 10 bash -c "echo | openssl s_client -connect 127.0.0.1:$MITM_PORT >/dev/null 2>&1"
  before=$(code)
  out=$(push --pairing "$(forged_code)" "$SRC" 2>&1); rc=$?
  kill "$MITM_PID" 2>/dev/null; wait "$MITM_PID" 2>/dev/null
  if [ "$what" = first ]; then
    t_check "forged first verification information is refused: $out" \
      refused "$rc" "$out" 'not signed by the hub'
  else
    t_check "forged second verification information is refused: $out" \
      refused "$rc" "$out" 'second verification information does not verify'
  fi
  next_code "$before"
done

# an expired code (a terminal with a 2-second lifetime)
STORE2=$T_DIR/store2
"$CERTSYNC" backup terminal --dir "$STORE2" --data "$T_DIR/term" --listen 127.0.0.1:0 --ttl 2 \
  >/dev/null 2>"$T_DIR/terminal2.log" &
T2=$!
T_PIDS+=("$T2")
t_wait 20 test -s "$STORE2/pairing.txt"
OLD=$(cat "$STORE2/pairing.txt")
sleep 3
out=$(push --pairing "$OLD" "$SRC" 2>&1); rc=$?
t_check "an expired code is refused: $out" refused "$rc" "$out" pairing_expired
kill "$T2"; wait "$T2" 2>/dev/null

# ---- the happy path: list, restore all, restore two items
t_check "first backup id reported ($B1)" [ -n "$B1" ]
t_check "marker nowhere in the terminal's directory" bash -c "! grep -rqa '$MARKER' '$STORE'"
c=$(code); out=$("$CERTSYNC" backup list --data "$T_DIR/phone" --pairing "$c" 2>&1); next_code "$c"
t_check "list shows the backup" bash -c "echo '$out' | grep -q '$B1'"
c=$(code); out=$("$CERTSYNC" backup list --data "$T_DIR/phone" --pairing "$c" --backup "$B1" 2>&1); next_code "$c"
t_check "list --backup shows items with ids" bash -c "echo '$out' | grep -q 'docs/secret.txt'"
ID_SECRET=$(echo "$out" | awk '$NF == "docs/secret.txt" { print $1 }')
ID_BIG=$(echo "$out" | awk '$NF == "photos/2026/big.jpg" { print $1 }')
c=$(code); out=$("$CERTSYNC" backup restore --data "$T_DIR/phone" --pairing "$c" --backup "$B1" "$T_DIR/all" 2>&1); next_code "$c"
t_check "restore all: $out" bash -c "diff <(cd '$SRC' && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) <(cd '$T_DIR/all' && find . -type f ! -name '.certsync-tmp-*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)"
c=$(code); out=$("$CERTSYNC" backup restore --data "$T_DIR/phone" --pairing "$c" --backup "$B1" \
  --item "$ID_SECRET" --item "$ID_BIG" "$T_DIR/two" 2>&1); next_code "$c"
t_check "restore two chosen items: $out" bash -c \
  "[ \"\$(cd '$T_DIR/two' && find . -type f | wc -l)\" = 2 ] && cmp -s '$SRC/docs/secret.txt' '$T_DIR/two/docs/secret.txt' && cmp -s '$SRC/photos/2026/big.jpg' '$T_DIR/two/photos/2026/big.jpg'"

# ---- a newer local file is kept unless --force
echo "edited after the backup" >"$T_DIR/all/docs/note-1.txt"
c=$(code); out=$("$CERTSYNC" backup restore --data "$T_DIR/phone" --pairing "$c" --backup "$B1" "$T_DIR/all" 2>&1); next_code "$c"
t_check "a newer local file is not overwritten: $out" grep -qx 'edited after the backup' "$T_DIR/all/docs/note-1.txt"
c=$(code); out=$("$CERTSYNC" backup restore --data "$T_DIR/phone" --pairing "$c" --backup "$B1" --force "$T_DIR/all" 2>&1); next_code "$c"
t_check "--force overwrites it" grep -qx 'note 1' "$T_DIR/all/docs/note-1.txt"

# ---- a second backup of unchanged data moves under 1% of its bytes
c=$(code); out=$(push --pairing "$c" --json "$SRC" 2>&1); next_code "$c"
sent=$(echo "$out" | tail -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["bytes_sent"], d["bytes"])')
t_check "second backup of unchanged data sends under 1%: $sent" \
  python3 -c "import sys; s,b = map(int, '$sent'.split()); sys.exit(0 if s * 100 < b else 1)"

# ---- a transfer killed halfway resumes
head -c 150000000 /dev/urandom >"$SRC/photos/2026/video.mp4"
c=$(code)
"$CERTSYNC" backup push --data "$T_DIR/phone" --pairing "$c" "$SRC" >/dev/null 2>&1 &
PUSH=$!
t_wait 30 bash -c "[ \$(du -sb '$STORE/chunks' | cut -f1) -gt 30000000 ]"
kill -9 "$PUSH"; wait "$PUSH" 2>/dev/null
next_code "$c"
c=$(code); out=$(push --pairing "$c" --json "$SRC" 2>&1); next_code "$c"
sent=$(echo "$out" | tail -1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["bytes_sent"])' 2>/dev/null)
t_check "the resumed push completes and sends only the rest (${sent:-?} of 150000000 new bytes): $out" \
  bash -c "[ -n '$sent' ] && [ '$sent' -gt 0 ] && [ '$sent' -lt 125000000 ]"
B3=$(echo "$out" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup"])' 2>/dev/null)
c=$(code); out=$("$CERTSYNC" backup restore --data "$T_DIR/phone" --pairing "$c" --backup "$B3" "$T_DIR/resumed" 2>&1); next_code "$c"
t_check "the resumed backup restores intact" cmp -s "$SRC/photos/2026/video.mp4" "$T_DIR/resumed/photos/2026/video.mp4"
t_check "the terminal is still serving" kill -0 "$TERM_PID"

t_finish
