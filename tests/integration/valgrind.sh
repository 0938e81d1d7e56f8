#!/usr/bin/env bash
# The hub and two agents under valgrind through a small relay sync; then
# account sync (PROTOCOL.md §11) with the same hub: 'hub account add', and two
# devices that each log in and run 'sync run' under valgrind, with a
# conflicting edit; then a graceful stop (SIGTERM). Every process run under
# valgrind: no memory error, no definite leak.
. "$(dirname "$0")/lib.bash"
t_setup valgrind
command -v valgrind >/dev/null || { echo "valgrind missing"; t_fail "valgrind installed"; t_finish; exit 1; }

REAL=$CERTSYNC
WRAP=$T_DIR/certsync-vg
cat > "$WRAP" <<SH
#!/usr/bin/env bash
case "\$1 \$2" in
  "hub serve"|"agent run"|"hub account"|"account login"|"sync run")
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
head -c 1500000 /dev/urandom > "$T_DIR/A-docs/sub/data.bin"
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

for p in "$AGENT_A" "$AGENT_B" "$HUB_PID"; do kill -TERM "$p" 2>/dev/null; done
start=$SECONDS
for p in "$AGENT_A" "$AGENT_B" "$HUB_PID"; do wait "$p"; echo "# process $p exited with $?"; done
t_check "graceful stop within 15 s ($((SECONDS - start)) s)" [ $((SECONDS - start)) -le 15 ]
# one log per process run under valgrind (empty unless valgrind reported)
count() { local f n=0; for f in "$T_DIR"/vg-$1-*.log; do [ -e "$f" ] && n=$((n + 1)); done; echo $n; }
t_check "processes under valgrind: hub serve $(count hub-serve), agent run $(count agent-run), \
hub account $(count hub-account), account login $(count account-login), sync run $(count sync-run)" \
  [ "$(count hub-serve) $(count agent-run) $(count hub-account) $(count account-login) $(count sync-run)" = "1 2 1 2 5" ]
errors=$(grep -H . "$T_DIR"/vg-*.log 2>/dev/null)
if [ -z "$errors" ]; then
  t_ok "valgrind reports no error and no definite leak"
else
  t_fail "valgrind reports: $errors"
fi
t_finish
