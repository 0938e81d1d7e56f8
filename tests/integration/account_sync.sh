#!/usr/bin/env bash
# Account sync (DESIGN §7, PROTOCOL.md §11): two hub processes share one
# store; devices log in with a password, the hub keeps no session; every
# body is sealed with the message key; the client does all the merging.
. "$(dirname "$0")/lib.bash"
t_setup account_sync
HERE=$(cd "$(dirname "$0")" && pwd)
CAPTURE=$T_DIR/capture
PW=$T_DIR/password
printf 'correct horse battery staple\n' >"$PW"
printf 'wrong horse battery staple\n' >"$T_DIR/wrong"

set_config() { # set_config KEY VALUE: change hub.json (read at the next start)
  python3 - "$HUB_DATA/hub.json" "$1" "$2" <<'PY'
import json, sys
p, k, v = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = json.load(open(p)); c[k] = v; json.dump(c, open(p, "w"), indent=2)
PY
}

# hub2_start: a second hub process on the same data directory (same store).
hub2_start() {
  "$CERTSYNC" hub serve --data "$HUB_DATA" --listen "127.0.0.1:$HUB2_PORT" --log-level info \
    >>"$T_DIR/hub2.log" 2>&1 &
  HUB2_PID=$!
  T_PIDS+=("$HUB2_PID")
  t_wait 20 curl -sfk "https://127.0.0.1:$HUB2_PORT/healthz" -o /dev/null
}
hub2_kill() { kill -9 "$HUB2_PID" 2>/dev/null; wait "$HUB2_PID" 2>/dev/null; }
metric_at() { # metric_at PORT NAME
  curl -sfk "https://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }' | head -1
}

acct_device() { # acct_device NAME: a device with folder "docs" in $T_DIR/NAME-docs
  "$CERTSYNC" device init --data "$T_DIR/$1" --name "$1" >/dev/null &&
    "$CERTSYNC" folder add docs "$T_DIR/$1-docs" --data "$T_DIR/$1" >/dev/null
}
login() { # login NAME PASSWORD_FILE HUB_URL...
  local name=$1 pwf=$2; shift 2
  local args=()
  for u in "$@"; do args+=(--hub "$u"); done
  "$CERTSYNC" account login "${args[@]}" --account alice --ca "$HUB_DATA/ca/ca.crt" \
    --password-file "$pwf" --data "$T_DIR/$name"
}
sync_run() { "$CERTSYNC" sync run docs --data "$T_DIR/$1" "${@:2}"; }
token_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T_DIR/$1/account.json"; }

# files_sig DIR: path, mode, size, mtime and hash of every file (directories:
# path and mode), for comparing synced trees.
files_sig() {
  (cd "$1" && find . -mindepth 1 ! -name '.certsync-tmp-*' \( -type f -printf '%P\tf\t%m\t%s\t%T@\n' \
    -o -type d -printf '%P\td\t%m\t-\t-\n' \) | LC_ALL=C sort |
    while IFS=$'\t' read -r p y m s t; do
      if [ "$y" = f ]; then h=$(sha256sum "$p" | cut -c1-64); else h=-; fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$y" "$m" "$s" "$t" "$h"
    done)
}
same_files() { diff <(files_sig "$1") <(files_sig "$2"); }

# post_raw PORT PATH BODY_FILE: POST a recorded frame; prints "status code".
post_raw() {
  local out
  out=$(curl -sk -o "$T_DIR/raw.out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/vnd.certsync.sealed' --data-binary "@$3" "https://127.0.0.1:$1$2")
  echo "$out $(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get("code",""))
except Exception: print("-")' "$T_DIR/raw.out")"
}

# ---- two hub processes on one store, a capturing TLS proxy in front of hub 1
hub_start || { t_fail "hub 1 starts"; t_finish; exit 1; }
kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null
set_config account_window_s 5
hub_start || { t_fail "hub 1 restarts"; t_finish; exit 1; }
HUB2_PORT=$(t_free_port)
t_check "hub 2 starts on the same data directory" hub2_start
PROXY_PORT=$(t_free_port)
python3 "$HERE/tls_capture.py" serve "$PROXY_PORT" "$HUB_PORT" "$HUB_DATA/tls/server.crt" \
  "$HUB_DATA/tls/server.key" "$CAPTURE" 2>>"$T_DIR/proxy.log" &
T_PIDS+=("$!")
t_wait 10 bash -c "echo | openssl s_client -connect 127.0.0.1:$PROXY_PORT >/dev/null 2>&1"
H1=https://127.0.0.1:$PROXY_PORT
H2=https://127.0.0.1:$HUB2_PORT

out=$(hub account add alice --password-file "$PW" --kdf-memory 8192 --kdf-time 1 2>&1)
t_check "account added: $out" [ $? -eq 0 ]
t_check "account listed" bash -c "$(declare -f hub); CERTSYNC=$CERTSYNC HUB_DATA=$HUB_DATA; hub account list | grep -q alice"

acct_device A && acct_device B || t_fail "devices A and B created"

# ---- wrong password: refused, each repeat waits longer
delays=()
for i in 1 2 3; do
  t0=$(date +%s%N)
  out=$(login A "$T_DIR/wrong" "$H1" "$H2" 2>&1); rc=$?
  delays+=($(( ($(date +%s%N) - t0) / 1000000 )))
  [ $rc -ne 0 ] && echo "$out" | grep -qi 'wrong account or password' || t_fail "wrong password $i refused: $out"
done
t_check "wrong password refused, delays grow: ${delays[*]} ms" \
  bash -c "[ ${delays[1]} -gt ${delays[0]} ] && [ ${delays[2]} -gt ${delays[1]} ] && [ ${delays[2]} -ge 900 ]"
out=$("$CERTSYNC" account login --hub "$H2" --account nobody --ca "$HUB_DATA/ca/ca.crt" \
  --password-file "$PW" --data "$T_DIR/A" 2>&1); rc=$?
t_check "unknown account refused the same way: $out" bash -c \
  "[ $rc -ne 0 ] && echo '$out' | grep -q 'wrong account or password'"

# ---- login on both hubs; A's first sync
t_check "A logs in (requests spread over both hubs)" login A "$PW" "$H1" "$H2"
t_check "B logs in" login B "$PW" "$H2" "$H1"
t_check "account.json is private (0600)" [ "$(stat -c %a "$T_DIR/A/account.json")" = 600 ]

D=$T_DIR/A-docs
MARKER="certsync-account-marker-$$-$RANDOM"
mkdir -p "$D/sub/deeper" "$D/empty" "$D/ünïcödé"
echo "$MARKER in a text file" >"$D/notes.txt"
head -c 3000000 /dev/urandom >"$D/sub/blob.bin"
{ head -c 500000 /dev/urandom; echo "$MARKER"; head -c 2000000 /dev/urandom; } >"$D/sub/deeper/big.bin"
: >"$D/zero"
echo "shared v0" >"$D/shared.txt"
printf '#!/bin/sh\necho hi\n' >"$D/ünïcödé/run.sh"; chmod 755 "$D/ünïcödé/run.sh"

out=$(sync_run A --json 2>&1)
t_check "A's first sync uploads: $out" bash -c "echo '$out' | grep -q '\"pushed\": [1-9]'"
req1=$(metric_at "$HUB_PORT" certsync_hub_account_requests_total)
req2=$(metric_at "$HUB2_PORT" certsync_hub_account_requests_total)
t_check "both hub processes served A's requests (hub 1: ${req1:-0}, hub 2: ${req2:-0})" \
  bash -c "[ '${req1:-0}' != 0 ] && [ '${req2:-0}' != 0 ]"

# ---- hub 2 restarted between two requests: the login stays valid
hub2_kill
t_check "hub 2 restarted" hub2_start
out=$(sync_run B --json 2>&1)
t_check "B syncs through both hubs after the restart: $out" bash -c "echo '$out' | grep -q '\"pulled\": [1-9]'"
t_check "B holds A's tree (content, mode, mtime)" same_files "$T_DIR/A-docs" "$T_DIR/B-docs"

# ---- concurrent edits while apart, then each syncs twice
echo "edited on A" >"$T_DIR/A-docs/shared.txt"
echo "edited on B" >"$T_DIR/B-docs/shared.txt"
echo "only on A" >"$T_DIR/A-docs/only-a.txt"
echo "only on B" >"$T_DIR/B-docs/only-b.txt"
rm "$T_DIR/B-docs/zero"
mv "$T_DIR/A-docs/notes.txt" "$T_DIR/A-docs/sub/notes-moved.txt"
sleep 2.1 # past the scanner's 2-second window for recently modified files
for round in 1 2; do
  sync_run A >/dev/null 2>>"$T_DIR/sync.err" || t_fail "A sync round $round: $(tail -1 "$T_DIR/sync.err")"
  sync_run B >/dev/null 2>>"$T_DIR/sync.err" || t_fail "B sync round $round: $(tail -1 "$T_DIR/sync.err")"
done
t_check "after two rounds both trees are equal" same_files "$T_DIR/A-docs" "$T_DIR/B-docs"
for who in A B; do
  d=$T_DIR/$who-docs
  t_check "$who holds both new files" bash -c "[ -f '$d/only-a.txt' ] && [ -f '$d/only-b.txt' ]"
  t_check "$who holds A's edit at the path" grep -qx 'edited on A' "$d/shared.txt"
  t_check "$who keeps B's edit as a conflict copy" bash -c \
    "grep -lx 'edited on B' '$d'/shared.sync-conflict-*.txt >/dev/null"
  t_check "$who: deletion and rename propagated" bash -c \
    "[ ! -e '$d/zero' ] && [ ! -e '$d/notes.txt' ] && [ -f '$d/sub/notes-moved.txt' ]"
done

# ---- nothing readable on the hub or on the wire
t_check "marker nowhere under the hub's data directory" bash -c "! grep -rqa '$MARKER' '$HUB_DATA'"
t_check "the proxy recorded the sync's requests" bash -c "grep -qa '/v1/account/records/upload' '$CAPTURE'/*.up"
t_check "marker nowhere in the request or response bodies on the wire" bash -c "! grep -qa '$MARKER' '$CAPTURE'/*"
t_check "file names nowhere on the wire" bash -c "! grep -qa 'notes-moved' '$CAPTURE'/*"

# ---- refused requests, each with its own error
n=$(python3 "$HERE/tls_capture.py" bodies "$CAPTURE" /v1/account/records/changes "$T_DIR/changes")
t_check "captured $n sealed changes requests" [ "${n:-0}" -gt 0 ]
REQ=$T_DIR/changes.0
python3 "$HERE/tls_capture.py" tamper "$REQ" "$T_DIR/tampered"
t_check "tampered body: 401 body_invalid" [ "$(post_raw "$HUB2_PORT" /v1/account/records/changes "$T_DIR/tampered")" = "401 body_invalid" ]
python3 "$HERE/tls_capture.py" retoken "$REQ" "$(token_of B)" "$T_DIR/other-key"
t_check "body sealed with another token's key: 401 body_invalid" \
  [ "$(post_raw "$HUB2_PORT" /v1/account/records/changes "$T_DIR/other-key")" = "401 body_invalid" ]
python3 "$HERE/tls_capture.py" retoken "$REQ" "$(python3 "$HERE/tls_capture.py" rekid "$(token_of A)")" "$T_DIR/rekid"
t_check "token under an unknown key id: 401 token_unknown_key" \
  [ "$(post_raw "$HUB2_PORT" /v1/account/records/changes "$T_DIR/rekid")" = "401 token_unknown_key" ]
t_check "request moved to another path: 401 body_invalid" \
  [ "$(post_raw "$HUB2_PORT" /v1/account/whoami "$REQ")" = "401 body_invalid" ]
printf 'not a frame' >"$T_DIR/junk"
t_check "malformed frame: 400 frame_malformed" \
  [ "$(post_raw "$HUB2_PORT" /v1/account/records/changes "$T_DIR/junk")" = "400 frame_malformed" ]
sleep 6 # past account_window_s = 5
t_check "request replayed outside the time window: 401 time_window" \
  [ "$(post_raw "$HUB2_PORT" /v1/account/records/changes "$REQ")" = "401 time_window" ]
out=$(sync_run A 2>&1); rc=$?
t_check "the hubs keep serving: A syncs: $out" [ $rc -eq 0 ]

# ---- a disabled account is refused at once, enabled again it works
hub account disable alice >/dev/null
out=$(sync_run B 2>&1); rc=$?
t_check "disabled account refused: $out" bash -c "[ $rc -ne 0 ] && echo '$out' | grep -q account_disabled"
hub account enable alice >/dev/null
t_check "enabled again, B syncs" sync_run B

# ---- an expired token
kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null; hub2_kill
set_config account_token_ttl_s 2
hub_start && hub2_start || t_fail "hubs restart with a 2-second token lifetime"
acct_device C
t_check "C logs in" login C "$PW" "$H2"
sleep 3
out=$(sync_run C 2>&1); rc=$?
t_check "expired token refused: $out" bash -c "[ $rc -ne 0 ] && echo '$out' | grep -qi expired"
cp "$T_DIR/C/account.json" "$T_DIR/c-session.json"
python3 - "$T_DIR/C/account.json" <<'PY'
import json, sys, time
p = sys.argv[1]; s = json.load(open(p)); s["expires"] = int(time.time()) + 3600
json.dump(s, open(p, "w"))
PY
out=$(sync_run C 2>&1); rc=$?
t_check "the hub refuses it too (token_expired), whatever the client believes: $out" \
  bash -c "[ $rc -ne 0 ] && echo '$out' | grep -q token_expired"

t_finish
