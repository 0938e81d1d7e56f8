#!/usr/bin/env bash
# Incremental relay sync (acceptance e), measured by the hub's counters:
# only chunks that changed since the destination's history are uploaded.
. "$(dirname "$0")/lib.bash"
t_setup incremental

hub_start || { t_fail "hub starts"; t_finish; exit 1; }
for d in A B; do
  device_new $d && folder_add $d docs "$T_DIR/$d-docs" >/dev/null || { t_fail "enroll $d"; t_finish; exit 1; }
  agent_start $d
done
S=$T_DIR/A-docs
mkdir -p "$S/sub"
head -c 67108864 /dev/urandom > "$S/sub/big.bin"
for i in $(seq 1 20); do head -c 3000 /dev/urandom > "$S/file-$i.dat"; done

sync_once() {
  local before after job st
  before=$(metric certsync_hub_chunk_records_received_total)
  job=$(hub sync --folder docs --from "$ID_A" --to "$ID_B") || return 1
  st=$(job_wait "$job" 180)
  after=$(metric certsync_hub_chunk_records_received_total)
  LAST_CHUNKS=$(( ${after:-0} - ${before:-0} ))
  [ "$st" = done ]
}

t_check "initial sync" sync_once
t_check "trees equal after the initial sync" trees_equal "$S" "$T_DIR/B-docs"
echo "# initial sync uploaded $LAST_CHUNKS chunks"

t_check "unchanged folder syncs" sync_once
t_check "(e) unchanged folder: no chunk uploaded ($LAST_CHUNKS)" [ "$LAST_CHUNKS" -eq 0 ]

printf 'X' | dd of="$S/sub/big.bin" bs=1 seek=33554432 conv=notrunc status=none
t_check "one-byte change syncs" sync_once
t_check "(e) one byte changed in a 64 MiB file: at most 2 chunks ($LAST_CHUNKS)" [ "$LAST_CHUNKS" -le 2 ]
t_check "trees equal after the one-byte change" trees_equal "$S" "$T_DIR/B-docs"

python3 - "$S/sub/big.bin" <<'PY'
import os, sys
p = sys.argv[1]; b = open(p, 'rb').read(); m = len(b) // 2
open(p, 'wb').write(b[:m] + os.urandom(100) + b[m:])
PY
t_check "100-byte insertion syncs" sync_once
t_check "(e) 100 bytes inserted in the middle: at most 3 chunks ($LAST_CHUNKS)" [ "$LAST_CHUNKS" -le 3 ]
t_check "trees equal after the insertion" trees_equal "$S" "$T_DIR/B-docs"

rm "$S/file-1.dat"
mv "$S/file-2.dat" "$S/sub/renamed.dat"
mv "$S/sub/big.bin" "$S/big-moved.bin"
t_check "deletion and renames sync" sync_once
t_check "(e) a deletion and renames propagate" trees_equal "$S" "$T_DIR/B-docs"
t_check "(e) renames move no chunk ($LAST_CHUNKS)" [ "$LAST_CHUNKS" -eq 0 ]
t_check "(e) the deleted file is gone on B" test ! -e "$T_DIR/B-docs/file-1.dat"

# A local edit on B that the next sync would overwrite is kept as a conflict copy.
echo "edited on B" > "$T_DIR/B-docs/file-3.dat"
sleep 0.01
echo "edited on A" > "$S/file-3.dat"
t_check "conflicting edit syncs" sync_once
t_check "B has A's version" cmp -s "$S/file-3.dat" "$T_DIR/B-docs/file-3.dat"
t_check "B's own edit is kept as a conflict copy" \
  bash -c "grep -l 'edited on B' '$T_DIR'/B-docs/file-3.sync-conflict-*.dat"

t_finish
