# shellcheck shell=bash
# Backup (DESIGN §8, issue 5): `certsync backup push` to a paired terminal and
# `certsync backup restore` from it, side by side with restic and a local
# repository, on the same data. certsync is set up the way
# tests/integration/backup.sh does it: a hub on a free loopback port with one
# account, two devices logged in to it (the terminal's and the backed-up
# device's), and `certsync backup terminal` listening on 127.0.0.1. restic
# gets `restic init` of a repository in the run directory.
#
# Three measured operations per tool (bench/lib/backup_round.py times each
# command): a first backup of the dataset, a second backup of the unchanged
# dataset, and a restore of the first backup into an empty directory, which
# must then hold the same paths with the same contents (sha256) as the source.
# Results go to $RESULTS under the tools backup-certsync and backup-restic.

BK_EXCLUDES=('.certsync-tmp-*')

# bk_fields JSON: "key value" lines of backup_round.py's JSON, flattened
# (pids.NAME; last: the command's last output line; last.KEY when the command's last line is a JSON object, as
# `certsync backup push --json` and `restic backup --json` print).
bk_fields() {
  "$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
for k in ("rc", "wall", "cpu"):
    print(k, d[k])
for k, v in d["pids"].items():
    print("pids." + k, v)
try:
    last = json.loads(d["last"])
except ValueError:
    last = None
if isinstance(last, dict):
    for k, v in last.items():
        if isinstance(v, (int, float, str)) and " " not in str(v):
            print("last." + k, v)
print("last", d["last"].replace("\n", " ") or "-")
print("err", d["err"] or "-")' "$1"
}

# bk_op TOOL OP [--pid NAME=PID ...] -- CMD...: run CMD through
# backup_round.py; its fields land in the associative array BK (BK[wall],
# BK[cpu], BK[pids.terminal], BK[last.bytes_sent], ...). The JSON line goes to
# TOOL/ops.log. Returns 1 (with ROUND_ERROR) when the command fails.
declare -A BK
bk_op() {
  local tool=$1 op=$2 out k v
  shift 2
  out=$("$PYTHON" "$BENCH/lib/backup_round.py" "$ROUND_TIMEOUT" "$@" 2>>"$WORK/$tool/ops.err")
  echo "$op $out" >>"$WORK/$tool/ops.log"
  BK=()
  if [ -z "$out" ]; then
    ROUND_ERROR="$op: backup_round.py printed nothing (see $WORK/$tool/ops.err)"
    return 1
  fi
  while read -r k v; do BK[$k]=$v; done < <(bk_fields "$out")
  if [ "${BK[rc]:-1}" != 0 ]; then
    ROUND_ERROR="$op: exit ${BK[rc]:-?}: ${BK[err]:-see $WORK/$tool/ops.log}"
    return 1
  fi
}

# bk_size DIR: bytes under DIR (du -sb).
bk_size() { du -sb "$1" 2>/dev/null | cut -f1; }

# bk_verify TOOL SRC DEST: DEST must hold the paths of SRC with the same types,
# sizes and sha256 (required); whether modes and mtimes came back too is
# recorded as restore_meta (same / differs), not required.
bk_verify() {
  local tool=$1 src=$2 dst=$3 a b ex=() p
  for p in "${BK_EXCLUDES[@]}"; do ex+=(--exclude "$p"); done
  a=$(dataset_py sig "$src" "$WORK/$tool/restore.src.sig" "${ex[@]}") || return 1
  b=$(dataset_py sig "$dst" "$WORK/$tool/restore.dst.sig" "${ex[@]}") || return 1
  # the listing is path, type, mode, size, mtime ns, sha256: keep 1, 2, 4, 6
  if ! diff -q <(cut -f1,2,4,6 "$WORK/$tool/restore.src.sig") \
    <(cut -f1,2,4,6 "$WORK/$tool/restore.dst.sig") >/dev/null; then
    log "$tool restore: RESTORED TREE DIFFERS FROM SOURCE (src ${a#* } / restored ${b#* })"
    diff <(cut -f1,2,4,6 "$WORK/$tool/restore.src.sig") <(cut -f1,2,4,6 "$WORK/$tool/restore.dst.sig") |
      head -20 >&2
    return 1
  fi
  log "$tool restore: restored tree verified (files bytes: ${a#* }; same paths, sizes, sha256)"
  if [ "${a%% *}" = "${b%% *}" ]; then
    result "$tool" restore_meta same
  else
    result "$tool" restore_meta differs
    log "$tool restore: modes or mtimes differ from the source (first lines):"
    diff "$WORK/$tool/restore.src.sig" "$WORK/$tool/restore.dst.sig" | head -6 >&2
  fi
}

# ---- certsync --------------------------------------------------------------

bk_cs_setup() {
  local dir=$WORK/backup-certsync who
  [ -x "$CERTSYNC" ] || { SETUP_ERROR="no certsync binary at $CERTSYNC (build it first)"; return 1; }
  mkdir -p "$dir"
  BK_HUB=$dir/hub BK_PORT=$(free_port) BK_PIDS=() BK_LAST_CODE=''
  BK_URL=https://127.0.0.1:$BK_PORT BK_STORE=$dir/store
  "$CERTSYNC" hub init --data "$BK_HUB" --listen "127.0.0.1:$BK_PORT" >>"$dir/setup.log" 2>&1 ||
    { SETUP_ERROR="hub init failed (see $dir/setup.log)"; return 1; }
  "$CERTSYNC" hub serve --data "$BK_HUB" --log-level info >>"$dir/hub.log" 2>&1 &
  BK_HUB_PID=$!
  BK_PIDS+=("$BK_HUB_PID") BENCH_PIDS+=("$BK_HUB_PID")
  wait_until 20 curl -sfk "$BK_URL/healthz" -o /dev/null ||
    { SETUP_ERROR="the hub does not answer /healthz (see $dir/hub.log)"; return 1; }
  # as a long-running hub has by the time devices come (docs/ARCHITECTURE.md, Memory)
  wait_until 30 warmed "$dir/hub.log" ||
    { SETUP_ERROR="the hub did not log memory.warmed (see $dir/hub.log)"; return 1; }
  printf 'certsync bench backup password\n' >"$dir/password"
  chmod 600 "$dir/password"
  # A cheap argon2id cost: logins are not timed.
  "$CERTSYNC" hub account add bench --data "$BK_HUB" --password-file "$dir/password" \
    --kdf-memory 8192 --kdf-time 1 >>"$dir/setup.log" 2>&1 ||
    { SETUP_ERROR="hub account add failed (see $dir/setup.log)"; return 1; }
  for who in terminal device; do
    "$CERTSYNC" device init --data "$dir/$who" --name "$who" >>"$dir/setup.log" 2>&1 &&
      "$CERTSYNC" account login --hub "$BK_URL" --account bench --ca "$BK_HUB/ca/ca.crt" \
        --password-file "$dir/password" --data "$dir/$who" >>"$dir/setup.log" 2>&1 ||
      { SETUP_ERROR="device init or account login of the $who failed (see $dir/setup.log)"; return 1; }
  done
  # The longest code lifetime: a code must not expire between two operations.
  "$CERTSYNC" backup terminal --dir "$BK_STORE" --data "$dir/terminal" --listen 127.0.0.1:0 \
    --ttl 3600 --log-level info >"$dir/terminal.out" 2>"$dir/terminal.log" &
  BK_TERM_PID=$!
  BK_PIDS+=("$BK_TERM_PID") BENCH_PIDS+=("$BK_TERM_PID")
  bk_next_code ||
    { SETUP_ERROR="the terminal shows no pairing code (see $dir/terminal.log)"; return 1; }
}

bk_cs_teardown() {
  local p
  for p in "${BK_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${BK_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  BK_PIDS=()
}

# bk_next_code: wait (not timed) until the terminal shows a code other than
# the last one used; it goes to BK_CODE. The terminal registers a new code
# with the hub after each use and rewrites pairing.txt (atomically).
bk_code_ready() {
  local c
  c=$(cat "$BK_STORE/pairing.txt" 2>/dev/null) || return 1
  [[ $c == CSB1:* ]] && [ "$c" != "$BK_LAST_CODE" ] || return 1
  BK_CODE=$c
}
# Each command that uses BK_CODE then sets BK_LAST_CODE to it.
bk_next_code() { wait_until 60 bk_code_ready; }

# bk_cs_push OP: one `backup push --json` of the source, measured.
bk_cs_push() {
  local op=$1 tool=backup-certsync before
  bk_next_code || { ROUND_ERROR="$op: the terminal shows no new pairing code"; return 1; }
  before=$(bk_size "$BK_STORE")
  BK_LAST_CODE=$BK_CODE
  bk_op "$tool" "$op" --pid "terminal=$BK_TERM_PID" --pid "hub=$BK_HUB_PID" -- \
    "$CERTSYNC" backup push --pairing "$BK_CODE" --json "$BK_SRC" --data "$WORK/$tool/device" || return 1
  [ -n "${BK[last.bytes_sent]:-}" ] && [ -n "${BK[last.backup]:-}" ] ||
    { ROUND_ERROR="$op: no JSON counters in push's output (see $WORK/$tool/ops.log)"; return 1; }
  result "$tool" "${op}_s" "${BK[wall]}"
  result "$tool" "${op}_sent" "${BK[last.bytes_sent]}"
  result "$tool" "${op}_stored" "$(( $(bk_size "$BK_STORE") - before ))"
  result "$tool" "${op}_cpu_s" "${BK[cpu]}"
  result "$tool" "${op}_terminal_cpu_s" "${BK[pids.terminal]}"
  result "$tool" "${op}_hub_cpu_s" "${BK[pids.hub]}"
  local k
  for k in files bytes chunks chunks_sent secs; do result "$tool" "${op}_$k" "${BK[last.$k]}"; done
  log "certsync $op: ${BK[wall]} s, ${BK[last.bytes_sent]} bytes sent (${BK[last.chunks_sent]} of ${BK[last.chunks]} chunks), backup ${BK[last.backup]}"
}

bk_certsync() {
  local tool=backup-certsync first
  BK_SRC=$1 BK_DST=$2 SETUP_ERROR='' ROUND_ERROR=''
  if ! bk_cs_setup; then
    log "certsync backup: setup failed: $SETUP_ERROR"
    result "$tool" status "failed: $SETUP_ERROR"
    bk_cs_teardown
    return 1
  fi
  if ! bk_cs_push backup; then
    result "$tool" status "failed: $ROUND_ERROR"; log "certsync backup: $ROUND_ERROR"; bk_cs_teardown; return 1
  fi
  first=${BK[last.backup]}
  if ! bk_cs_push backup2; then
    result "$tool" status "failed: $ROUND_ERROR"; log "certsync backup: $ROUND_ERROR"; bk_cs_teardown; return 1
  fi
  if ! bk_next_code; then
    result "$tool" status "failed: restore: the terminal shows no new pairing code"; bk_cs_teardown; return 1
  fi
  BK_LAST_CODE=$BK_CODE
  if ! bk_op "$tool" restore --pid "terminal=$BK_TERM_PID" --pid "hub=$BK_HUB_PID" -- \
    "$CERTSYNC" backup restore --pairing "$BK_CODE" --backup "$first" "$BK_DST" --data "$WORK/$tool/device"; then
    result "$tool" status "failed: $ROUND_ERROR"; log "certsync backup: $ROUND_ERROR"; bk_cs_teardown; return 1
  fi
  result "$tool" restore_s "${BK[wall]}"
  result "$tool" restore_cpu_s "${BK[cpu]}"
  result "$tool" restore_terminal_cpu_s "${BK[pids.terminal]}"
  result "$tool" restore_hub_cpu_s "${BK[pids.hub]}"
  log "certsync restore: ${BK[wall]} s: ${BK[last]}"
  result "$tool" store_bytes "$(bk_size "$BK_STORE")"
  bk_cs_teardown
  if ! bk_verify "$tool" "$BK_SRC" "$BK_DST"; then
    result "$tool" status "failed: the restored tree differs from the source"
    return 1
  fi
  result "$tool" status ok
}

# ---- restic ----------------------------------------------------------------

# restic with the run's repository, cache and password.
bk_restic() {
  restic --repo "$BK_REPO" --cache-dir "$WORK/backup-restic/cache" \
    --password-file "$WORK/backup-restic/password" "$@"
}

# bk_restic_backup OP: one `restic backup --json` of the source, measured;
# "sent" is the repository's growth (du -sb), as nothing else moves.
bk_restic_backup() {
  local op=$1 tool=backup-restic before
  before=$(bk_size "$BK_REPO")
  bk_op "$tool" "$op" -- restic --repo "$BK_REPO" --cache-dir "$WORK/$tool/cache" \
    --password-file "$WORK/$tool/password" backup --json --host bench "$BK_SRC" || return 1
  local grown=$(( $(bk_size "$BK_REPO") - before ))
  result "$tool" "${op}_s" "${BK[wall]}"
  result "$tool" "${op}_sent" "$grown"
  result "$tool" "${op}_stored" "$grown"
  result "$tool" "${op}_cpu_s" "${BK[cpu]}"
  local k
  for k in files_new files_unmodified data_added total_files_processed total_bytes_processed total_duration; do
    [ -n "${BK[last.$k]:-}" ] && result "$tool" "${op}_$k" "${BK[last.$k]}"
  done
  log "restic $op: ${BK[wall]} s, repository grew by $grown bytes (data_added ${BK[last.data_added]:-?})"
}

bk_restic_run() {
  local tool=backup-restic dir=$WORK/backup-restic restored
  BK_SRC=$1 ROUND_ERROR=''
  if ! command -v restic >/dev/null; then
    log "restic backup: skipped: restic is not installed (scripts/install-deps --bench)"
    result "$tool" status "skipped (restic not installed: scripts/install-deps --bench)"
    return 0
  fi
  mkdir -p "$dir"
  BK_REPO=$dir/repo BK_RESTORE=$dir/restore
  printf 'restic bench password\n' >"$dir/password"
  chmod 600 "$dir/password"
  result "$tool" version "$(restic version | awk '{ print $2 }')"
  if ! bk_restic init >>"$dir/setup.log" 2>&1; then
    result "$tool" status "failed: restic init (see $dir/setup.log)"
    return 1
  fi
  if ! bk_restic_backup backup || ! bk_restic_backup backup2; then
    result "$tool" status "failed: $ROUND_ERROR"; log "restic backup: $ROUND_ERROR"; return 1
  fi
  if ! bk_op "$tool" restore -- restic --repo "$BK_REPO" --cache-dir "$dir/cache" \
    --password-file "$dir/password" restore latest --target "$BK_RESTORE"; then
    result "$tool" status "failed: $ROUND_ERROR"; log "restic backup: $ROUND_ERROR"; return 1
  fi
  result "$tool" restore_s "${BK[wall]}"
  result "$tool" restore_cpu_s "${BK[cpu]}"
  log "restic restore: ${BK[wall]} s: ${BK[last]}"
  result "$tool" store_bytes "$(bk_size "$BK_REPO")"
  # restic restores a snapshot under the source's absolute path.
  restored=$BK_RESTORE$(cd "$BK_SRC" && pwd -P)
  if ! bk_verify "$tool" "$BK_SRC" "$restored"; then
    result "$tool" status "failed: the restored tree differs from the source"
    return 1
  fi
  result "$tool" status ok
}

# backup_bench SRC DST: certsync, then restic, on the same source.
backup_bench() {
  local src=$1 dst=$2 rc=0
  bk_certsync "$src" "$dst" || rc=1
  # The stores and restored copies are as big as the dataset: gone unless --keep.
  [ "$KEEP" -eq 1 ] || rm -rf "${WORK:?}/backup-certsync/store" "${dst:?}"/* "${dst:?}"/.[!.]*
  bk_restic_run "$src" || rc=1
  [ "$KEEP" -eq 1 ] || rm -rf "${WORK:?}/backup-restic/repo" "${WORK:?}/backup-restic/restore" \
    "${WORK:?}/backup-restic/cache"
  return $rc
}
