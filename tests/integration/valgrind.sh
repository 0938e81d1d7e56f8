#!/usr/bin/env bash
# The hub and two agents under valgrind through a small relay sync, then a
# graceful stop (SIGTERM): no memory error, no definite leak.
. "$(dirname "$0")/lib.bash"
t_setup valgrind
command -v valgrind >/dev/null || { echo "valgrind missing"; t_fail "valgrind installed"; t_finish; exit 1; }

REAL=$CERTSYNC
WRAP=$T_DIR/certsync-vg
cat > "$WRAP" <<SH
#!/usr/bin/env bash
case "\$1 \$2" in
  "hub serve"|"agent run")
    exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
      --show-leak-kinds=definite --log-file="$T_DIR/vg-%p.log" "$REAL" "\$@" ;;
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

for p in "$AGENT_A" "$AGENT_B" "$HUB_PID"; do kill -TERM "$p" 2>/dev/null; done
start=$SECONDS
for p in "$AGENT_A" "$AGENT_B" "$HUB_PID"; do wait "$p"; echo "# process $p exited with $?"; done
t_check "graceful stop within 15 s ($((SECONDS - start)) s)" [ $((SECONDS - start)) -le 15 ]
errors=$(cat "$T_DIR"/vg-*.log 2>/dev/null)
if [ -z "$errors" ]; then
  t_ok "valgrind reports no error and no definite leak"
else
  t_fail "valgrind reports: $errors"
fi
t_finish
