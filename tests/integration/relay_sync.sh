#!/usr/bin/env bash
# Relay sync end to end (issue: relay sync acceptance a-g): a hub and three
# device agents on loopback, real TLS, real files.
. "$(dirname "$0")/lib.bash"
t_setup relay
MARKER=certsync-marker-5b0e7d1c2a

hub_start || { t_fail "hub starts"; t_finish; exit 1; }
for d in A B C; do
  device_new $d || { t_fail "enroll $d"; t_finish; exit 1; }
  folder_add $d docs "$T_DIR/$d-docs" >/dev/null || t_fail "folder add $d"
done
t_ok "three devices enrolled"

# A's folder: nested folders, empty and 0-byte files, a 50 MiB file,
# non-ASCII names, an executable bit, and the marker.
S=$T_DIR/A-docs
mkdir -p "$S/a/b/c" "$S/empty-dir" "$S/日本語/données"
: > "$S/zero-bytes"
head -c 52428800 /dev/urandom > "$S/a/big.bin"
printf '#!/bin/sh\necho hi\n' > "$S/a/b/run.sh"; chmod 755 "$S/a/b/run.sh"
printf 'secret %s inside\n' "$MARKER" > "$S/a/b/c/notes.txt"
printf 'ünïcödé\n' > "$S/日本語/données/résumé.txt"
for i in $(seq 1 50); do head -c $((i * 997)) /dev/urandom > "$S/a/small-$i.dat"; done
touch -d '2021-03-04 05:06:07.123456789' "$S/a/b/c/notes.txt"

for d in A B C; do agent_start $d; done

# (a) one "all others" job
job=$(hub sync --folder docs --from "$ID_A" --all) || t_fail "create job"
st=$(job_wait "$job" 180)
t_check "(a) all-others job finishes: $st" [ "$st" = done ]
t_check "(a) B's tree equals A's (content, mode, mtime)" trees_equal "$S" "$T_DIR/B-docs"
t_check "(a) C's tree equals A's (content, mode, mtime)" trees_equal "$S" "$T_DIR/C-docs"

# (b)+(c): hold a job for C (agent stopped) so the relayed blobs stay on the hub.
agent_kill C
echo "second $MARKER" >> "$S/a/b/c/notes.txt"
job=$(hub sync --folder docs --from "$ID_A" --to "$ID_C")
t_wait 60 job_uploaded "$job"
t_check "(b) blobs for the held job are on the hub" test -s "$HUB_DATA/blobs/$job/header"
t_check "(b) the marker appears nowhere in the hub's data directory" \
  bash -c "! grep -r -a -q '$MARKER' '$HUB_DATA'"
if openssl cms -decrypt -inform DER -in "$HUB_DATA/blobs/$job/header" \
     -recip "$T_DIR/C/device.crt" -inkey "$T_DIR/C/device.key" -out "$T_DIR/signed.der" 2>"$T_DIR/cms.err" &&
   openssl cms -verify -noverify -inform DER -in "$T_DIR/signed.der" -out "$T_DIR/header.bin" 2>>"$T_DIR/cms.err" &&
   head -c 4 "$T_DIR/header.bin" | grep -q CSH2; then
  t_ok "(c) openssl cms -decrypt with C's key opens the relayed header"
else
  t_fail "(c) openssl cms -decrypt with C's key opens the relayed header: $(cat "$T_DIR/cms.err")"
fi
t_check "(c) B's key cannot open C's header" bash -c "! openssl cms -decrypt -inform DER \
  -in '$HUB_DATA/blobs/$job/header' -recip '$T_DIR/B/device.crt' -inkey '$T_DIR/B/device.key' >/dev/null 2>&1"

# (d) a tampered chunk: flip one byte of a relayed pack; C refuses and applies nothing.
cp -a "$T_DIR/C-docs" "$T_DIR/C-before"
python3 - "$HUB_DATA/blobs/$job/p0" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[40] ^= 1; open(p, 'wb').write(b)
PY
agent_start C
st=$(job_wait "$job" 60)
reason=$(hub job show "$job" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["destinations"][0]["reason"])')
t_check "(d) tampered chunk refused: $reason" bash -c "[ '$st' = failed ] && echo '$reason' | grep -qi authentic"
t_check "(d) nothing applied after the tampered chunk" trees_equal "$T_DIR/C-before" "$T_DIR/C-docs"

# (d) reordered records: swap the first two records of a pack.
agent_kill C
echo "third" >> "$S/a/b/c/notes.txt"; for i in 1 2 3; do echo "more $i" > "$S/a/new-$i.txt"; done
job=$(hub sync --folder docs --from "$ID_A" --to "$ID_C")
t_wait 60 job_uploaded "$job"
python3 - "$HUB_DATA/blobs/$job/p0" <<'PY'
import sys, struct
p = sys.argv[1]; b = open(p, 'rb').read(); recs = []; o = 0
while o < len(b):
    n = struct.unpack('>I', b[o:o+4])[0]; recs.append(b[o:o+4+n]); o += 4 + n
assert len(recs) >= 2, len(recs)
recs[0], recs[1] = recs[1], recs[0]
open(p, 'wb').write(b''.join(recs))
PY
agent_start C
st=$(job_wait "$job" 60)
t_check "(d) reordered records refused" [ "$st" = failed ]
t_check "(d) nothing applied after reordering" trees_equal "$T_DIR/C-before" "$T_DIR/C-docs"

# (d) a pack taken from another session.
agent_kill C
job1=$(hub sync --folder docs --from "$ID_A" --to "$ID_C")
t_wait 60 job_uploaded "$job1"
job2=$(hub sync --folder docs --from "$ID_A" --to "$ID_C")
t_wait 60 job_uploaded "$job2"
cp "$HUB_DATA/blobs/$job2/p0" "$HUB_DATA/blobs/$job1/p0"
agent_start C
st1=$(job_wait "$job1" 60)
st2=$(job_wait "$job2" 60)
t_check "(d) a pack from another session is refused ($st1), the genuine job applies ($st2)" \
  [ "$st1" = failed -a "$st2" = done ]
t_check "C matches A after the genuine job" trees_equal "$S" "$T_DIR/C-docs"

# (d) revoked device: its agent is refused, and jobs cannot name it.
hub device revoke "$ID_C" >/dev/null
agent_kill C
out=$("$CERTSYNC" agent run --once --data "$T_DIR/C" 2>&1); rc=$?
t_check "(d) revoked device refused: $out" bash -c "[ $rc -ne 0 ] && echo '$out' | grep -qi revoked"
t_check "(d) a job cannot name a revoked device" bash -c "! hub sync --folder docs --from '$ID_A' --to '$ID_C' 2>/dev/null"

# (d) unregistered device: a certificate from another hub's CA.
"$CERTSYNC" hub init --data "$T_DIR/hub2" --listen 127.0.0.1:1 >/dev/null
"$CERTSYNC" device init --data "$T_DIR/X" --name intruder >/dev/null
openssl req -new -key "$T_DIR/X/device.key" -subj /CN=intruder -out "$T_DIR/X/x.csr" 2>/dev/null
openssl x509 -req -in "$T_DIR/X/x.csr" -CA "$T_DIR/hub2/ca/ca.crt" -CAkey "$T_DIR/hub2/ca/ca.key" \
  -CAcreateserial -days 30 -out "$T_DIR/X/device.crt" 2>/dev/null
cp "$T_DIR/A/ca.crt" "$T_DIR/X/ca.crt"
printf '{"name":"intruder","hub":"127.0.0.1:%s"}\n' "$HUB_PORT" > "$T_DIR/X/device.json"
out=$("$CERTSYNC" agent run --once --data "$T_DIR/X" 2>&1); rc=$?
t_check "(d) unregistered device refused: $out" bash -c "[ $rc -ne 0 ] && echo '$out' | grep -qiE 'denied|not registered|unknown'"

t_finish
