#!/usr/bin/env bash
# Crash safety of relay sync (acceptance f, g): the destination agent and
# the hub are killed with SIGKILL mid-job; after a restart the job completes,
# the trees match, and no partial file is ever visible at a final path.
. "$(dirname "$0")/lib.bash"
t_setup crash

hub_start || { t_fail "hub starts"; t_finish; exit 1; }
for d in A B; do
  device_new $d && folder_add $d docs "$T_DIR/$d-docs" >/dev/null || { t_fail "enroll $d"; t_finish; exit 1; }
done
S=$T_DIR/A-docs
mkdir -p "$S"
for i in $(seq 1 12); do head -c 25165824 /dev/urandom > "$S/part-$i.bin"; done
agent_start A
agent_start B

dest_started() {
  local b
  b=$(hub job show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["destinations"][0].get("bytes_done",0))')
  [ "${b:-0}" -gt 0 ]
}

# Every file at a final path must be complete: equal to A's version.
no_partial_files() {
  local f rel
  while IFS= read -r -d '' f; do
    rel=${f#"$T_DIR/B-docs/"}
    case "$rel" in .certsync-tmp-*) continue ;; esac
    cmp -s "$f" "$S/$rel" || { echo "partial or wrong: $rel"; return 1; }
  done < <(find "$T_DIR/B-docs" -type f -print0)
}

# (f) kill the destination while it applies.
job=$(hub sync --folder docs --from "$ID_A" --to "$ID_B")
t_wait 120 dest_started "$job"
sleep 0.3
agent_kill B
t_check "(f) no partial file at a final path after SIGKILL" no_partial_files
agent_start B
st=$(job_wait "$job" 240)
t_check "(f) job completes after the destination restarts: $st" [ "$st" = done ]
t_check "(f) trees match" trees_equal "$S" "$T_DIR/B-docs"
t_check "(f) no temporary file remains" bash -c "[ -z \"\$(find '$T_DIR/B-docs' -name '.certsync-tmp-*')\" ]"

# (g) kill the hub during a job.
for i in $(seq 1 6); do head -c 25165824 /dev/urandom > "$S/more-$i.bin"; done
job=$(hub sync --folder docs --from "$ID_A" --to "$ID_B")
t_wait 60 bash -c "[ -n \"\$(ls '$HUB_DATA/blobs/$job' 2>/dev/null)\" ]"
hub_kill
sleep 1
hub_start || t_fail "hub restarts"
st=$(job_wait "$job" 300)
t_check "(g) job completes after the hub restarts: $st" [ "$st" = done ]
t_check "(g) trees match" trees_equal "$S" "$T_DIR/B-docs"
t_finish
