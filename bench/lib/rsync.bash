# shellcheck shell=bash disable=SC2034  # TOOL_EXCLUDES and ROUND_* are read by run_rounds
# rsync over ssh on loopback: a private sshd (run as root on a free port of
# 127.0.0.1, its own host key and authorized key, nothing in /etc touched)
# and `rsync -a --delete` pushing the source to root@127.0.0.1.

rsync_EXCLUDES=()

rsync_setup() {
  local dir=$WORK/sshd
  mkdir -p "$dir"
  command -v rsync >/dev/null || { SETUP_ERROR="rsync is not installed"; return 1; }
  SSHD_BIN=$(command -v sshd || echo /usr/sbin/sshd)
  [ -x "$SSHD_BIN" ] || { SETUP_ERROR="sshd is not installed"; return 1; }
  [ "$(id -u)" -eq 0 ] || { SETUP_ERROR="sshd must run as root (it logs in as root)"; return 1; }
  # sshd insists on its privilege-separation directory; Debian creates it at boot
  # of the ssh service only, so make it when it is missing (it is empty, not config).
  [ -d /run/sshd ] || mkdir -m 0755 /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" || return 1
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" || return 1
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  SSH_PORT=$(free_port)
  cat >"$dir/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
CONF
  "$SSHD_BIN" -D -e -f "$dir/sshd_config" >>"$WORK/sshd.log" 2>&1 &
  SSHD_PID=$!
  BENCH_PIDS+=("$SSHD_PID")
  local ssh=(ssh -F /dev/null -p "$SSH_PORT" -i "$dir/client_key" -o IdentitiesOnly=yes -o BatchMode=yes
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
  RSYNC_SSH="${ssh[*]}"   # rsync -e takes one string (the run directory has no spaces)
  if ! wait_until 10 "${ssh[@]}" root@127.0.0.1 true; then
    SETUP_ERROR="cannot ssh to the private sshd (see $WORK/sshd.log)"
    return 1
  fi
}

rsync_teardown() {
  [ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
  SSHD_PID=''
}

# rsync_round ROUND: one push; bytes are rsync's own count of what crossed the
# connection ("Total bytes sent" + "Total bytes received").
rsync_round() {
  local t0 t1 stats=$WORK/rsync-$1.stats sent recv
  t0=$(now)
  if ! rsync -a --delete --stats -e "$RSYNC_SSH" "$RSYNC_SRC/" "root@127.0.0.1:$RSYNC_DST/" >"$stats" 2>&1; then
    ROUND_ERROR="rsync exited with an error: $(tail -3 "$stats" | tr '\n' ' ')"
    return 1
  fi
  t1=$(now)
  sent=$(awk -F': ' '/^Total bytes sent/ {gsub(/,/, "", $2); print $2}' "$stats")
  recv=$(awk -F': ' '/^Total bytes received/ {gsub(/,/, "", $2); print $2}' "$stats")
  ROUND_SECS=$(elapsed "$t0" "$t1")
  ROUND_BYTES=$((sent + recv))
}

# rsync_bench SRC DST: set up, run the three rounds, tear down.
rsync_bench() {
  RSYNC_SRC=$1 RSYNC_DST=$2
  SETUP_ERROR=''
  if ! rsync_setup; then
    result rsync status "failed: $SETUP_ERROR"
    rsync_teardown
    return 1
  fi
  run_rounds rsync "$RSYNC_SRC" "$RSYNC_DST"
  local rc=$?
  rsync_teardown
  return $rc
}
