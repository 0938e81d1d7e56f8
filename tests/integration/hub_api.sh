#!/usr/bin/env bash
# The hub's HTTPS API (PROTOCOL.md §1-5) driven with curl and openssl:
# public endpoints, enrollment, device authentication, a whole relay job
# played by hand (produce, upload, apply, ack), hostile input, and the admin
# CLI. The hub must keep answering throughout.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.bash"
t_setup hub-api
cd "$T_DIR" || exit 1

HUB_DATA=$T_DIR/hub
"$CERTSYNC" hub init --data "$HUB_DATA" --listen 127.0.0.1:0 >/dev/null || { t_fail "hub init"; t_finish; exit 1; }
t_check "hub init refuses to overwrite" bash -c "! '$CERTSYNC' hub init --data '$HUB_DATA' 2>/dev/null"
# --warm-memory takes 0..256 MiB; anything else is a usage error (exit 2)
# before the hub opens anything
for v in 257 -1 x ''; do
  "$CERTSYNC" hub serve --data "$HUB_DATA" --warm-memory "$v" >/dev/null 2>"$T_DIR/warm.err"
  t_check "hub serve --warm-memory '$v' is a usage error" [ $? -eq 2 ]
done
t_check "the usage error names the range" grep -q 'from 0 to 256' "$T_DIR/warm.err"

"$CERTSYNC" hub serve --data "$HUB_DATA" --listen 127.0.0.1:0 --warm-memory 32 >"$T_DIR/serve.out" 2>"$T_DIR/hub.log" &
HUB_PID=$!
T_PIDS+=("$HUB_PID")
t_wait 20 grep -q '^hub listening on ' "$T_DIR/serve.out" || { t_fail "hub serve prints its URL"; t_finish; exit 1; }
URL=$(sed -n 's/^hub listening on //p' "$T_DIR/serve.out")
HUB_PORT=${URL##*:}
t_check "serve reports a real port ($HUB_PORT)" [ "$HUB_PORT" -gt 0 ]
# --warm-memory 32: 16 MiB of heap and one 10 MiB buffer, in the background
t_wait 20 grep -q 'event=memory.warmed heap_mib=16 buffers_mib=10 ' "$T_DIR/hub.log"
t_check "serve warms its memory as asked" [ $? -eq 0 ]
CA=$HUB_DATA/ca/ca.crt

# c [curl args...]: HTTPS to the hub, verified against its CA; prints the
# body, then the status on the last line.
c() { curl -sS --cacert "$CA" -w '\n%{http_code}' "$@"; }
status() { tail -n1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
is_json_error() { body "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert isinstance(d["error"],str) and isinstance(d["code"],str)' 2>/dev/null; }
alive() { [ "$(status "$(c "$URL/healthz")")" = 200 ]; }
admin() { "$CERTSYNC" hub "$@" --data "$HUB_DATA" --hub "$URL"; }

# --- transport: TLS 1.3 with the hub's order of suites (AES-128-GCM first,
# whatever order the client offers them in); TLS 1.2 only with AEAD suites
tls() { echo | openssl s_client -connect "127.0.0.1:$HUB_PORT" -CAfile "$CA" "$@" 2>/dev/null; }
t_check "TLS 1.3 with TLS_AES_128_GCM_SHA256" grep -q 'TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256' \
  <<<"$(tls -ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256)"
t_check "TLS 1.2 with an ECDHE AEAD suite" grep -q 'TLSv1.2, Cipher is ECDHE-.*-GCM-' <<<"$(tls -tls1_2)"
t_check "TLS 1.2 without an AEAD suite is refused" bash -c '! grep -q "Cipher is ECDHE" <<<"$1"' _ \
  "$(tls -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256)"

# --- public endpoints
r=$(c "$URL/healthz")
t_check "healthz 200" [ "$(status "$r")" = 200 ]
t_check "healthz says ok" [ "$(body "$r" | jget '["status"]')" = ok ]
r=$(c "$URL/metrics")
t_check "metrics 200" [ "$(status "$r")" = 200 ]
t_check "metrics has the request counter" grep -q 'certsync_hub_requests_total{code="200"}' <<<"$r"
curl -sS --cacert "$CA" -o ca.got "$URL/v1/ca"
t_check "/v1/ca is the CA" cmp -s ca.got "$CA"
r=$(c "$URL/v1/crl")
t_check "/v1/crl is a CRL signed by the CA" bash -c "openssl crl -noout -CAfile '$CA' 2>&1 <<<\"\$1\" | grep -q 'verify OK'" _ "$(body "$r")"

# --- enrollment (way 1) with a token and an openssl CSR
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null &&
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null; }
enroll() { # enroll NAME TOKEN -> response
  python3 -c 'import json,sys; print(json.dumps({"token":sys.argv[1],"name":sys.argv[2],"csr":open(sys.argv[3]).read()}))' \
    "$2" "$1" "$1.csr" > "$1.enroll.json"
  c -X POST -H 'Content-Type: application/json' --data-binary @"$1.enroll.json" "$URL/v1/enroll"
}
TOKEN=$(admin token create --uses 3) || t_fail "token create"
t_check "token has the cse1: prefix" [ "${TOKEN:0:5}" = cse1: ]
for n in alpha beta gamma; do newkey $n; done
r=$(enroll alpha "$TOKEN")
t_check "enroll alpha 201" [ "$(status "$r")" = 201 ]
body "$r" | jget '["certificate"]' > alpha.crt
ID_A=$(body "$r" | jget '["device_id"]')
t_check "issued certificate chains to the CA" openssl verify -CAfile "$CA" alpha.crt
r=$(enroll beta "$TOKEN"); body "$r" | jget '["certificate"]' > beta.crt; ID_B=$(body "$r" | jget '["device_id"]')
t_check "enroll beta 201" [ "$(status "$r")" = 201 ]
r=$(enroll alpha "$TOKEN")
t_check "enrolling the same key again: 409 exists" [ "$(status "$r")" = 409 ]
t_check "409 body is a JSON error" is_json_error "$r"
r=$(enroll gamma "cse1:AAAA")
t_check "malformed token: 4xx" [ "$(status "$r")" -ge 400 ] && [ "$(status "$r")" -lt 500 ]
r=$(enroll gamma "$TOKEN")
t_check "third use of a 3-use token 201" [ "$(status "$r")" = 201 ]
body "$r" | jget '["certificate"]' > gamma.crt; ID_G=$(body "$r" | jget '["device_id"]')
newkey delta
r=$(enroll delta "$TOKEN")
t_check "used-up token: 401 auth" [ "$(status "$r")" = 401 ]

# --- device authentication
A=(--cert alpha.crt --key alpha.key)
B=(--cert beta.crt --key beta.key)
G=(--cert gamma.crt --key gamma.key)
r=$(c "${A[@]}" "$URL/v1/agent/self")
t_check "registered device: /v1/agent/self 200" [ "$(status "$r")" = 200 ]
t_check "self names the device" [ "$(body "$r" | jget '["device_id"]')" = "$ID_A" ]
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key \
  -out rogue.crt -subj /CN=rogue -days 1 2>/dev/null
r=$(c --cert rogue.crt --key rogue.key "$URL/v1/agent/self")
t_check "unregistered client certificate: 403" [ "$(status "$r")" = 403 ]
t_check "... with code denied" [ "$(body "$r" | jget '["code"]')" = denied ]
r=$(c "$URL/v1/agent/self")
t_check "no client certificate: 403" [ "$(status "$r")" = 403 ]
r=$(c "${A[@]}" "$URL/v1/admin/devices")
t_check "a device is not an administrator: 403" [ "$(status "$r")" = 403 ]

# --- folders and a whole job played by hand
for d in A B G; do
  eval "r=\$(c \"\${$d[@]}\" -X PUT \"\$URL/v1/agent/folders/photos\")"
  t_check "PUT folder photos ($d)" [ "$(status "$r")" = 200 ]
done
r=$(c "${A[@]}" -X PUT "$URL/v1/agent/folders/bad%2Fname")
t_check "bad folder id: 4xx" [ "$(status "$r")" -ge 400 ]
JOB=$(admin sync --folder photos --from "$ID_A" --to "$ID_B,$ID_G")
t_check "hub sync prints a job id ($JOB)" [ "$JOB" -gt 0 ]
r=$(c "${A[@]}" "$URL/v1/agent/poll?wait=5&resume=1")
t_check "source gets a produce task" [ "$(body "$r" | jget '["type"]')" = produce ]
t_check "produce task names 2 destinations" [ "$(body "$r" | jget '["destinations"].__len__()')" = 2 ]
t_check "... with certificates" bash -c "grep -q 'BEGIN CERTIFICATE' <<<\"\$1\"" _ "$(body "$r")"
r=$(c "${A[@]}" "$URL/v1/agent/poll?wait=0")
t_check "nothing more for the source: 204" [ "$(status "$r")" = 204 ]
rec() { printf '\x00\x00\x00\x20'; head -c 32 /dev/urandom; }
head -c 300 /dev/urandom > header.bin
head -c 200 /dev/urandom > trailer.bin
{ rec; rec; } > m0.bin
{ rec; rec; rec; } > p0.bin
{ rec; rec; rec; rec; rec; } > p1.bin
up() { c "${A[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" "$URL/v1/agent/jobs/$JOB/blobs/$1"; }
for b in header m0 p0 p1; do
  r=$(up $b $b.bin)
  t_check "upload $b 201" [ "$(status "$r")" = 201 ]
done
r=$(up p1 p1.bin)
t_check "re-upload (retry) replaces: 201" [ "$(status "$r")" = 201 ]
head -c 40 /dev/urandom > broken.bin
r=$(up p2 broken.bin)
t_check "broken pack framing: 400 malformed" [ "$(status "$r")" = 400 ]
r=$(c "${B[@]}" -X PUT --data-binary @p0.bin "$URL/v1/agent/jobs/$JOB/blobs/p0")
t_check "a destination may not upload: 403" [ "$(status "$r")" = 403 ]
r=$(c "${A[@]}" -X PUT --data-binary @p0.bin "$URL/v1/agent/jobs/$JOB/blobs/evil")
t_check "bad blob name: 4xx" [ "$(status "$r")" -ge 400 ]
PRODUCED='{"to_seq": 57, "records": 8, "packs": 2, "segments": 1, "bytes": 10, "files": 2}'
r=$(c "${A[@]}" -X POST -d "$PRODUCED" "$URL/v1/agent/jobs/$JOB/produced")
t_check "produced without the trailer: 400" [ "$(status "$r")" = 400 ]
r=$(up trailer trailer.bin)
t_check "upload trailer 201" [ "$(status "$r")" = 201 ]
r=$(c "${A[@]}" -X POST -d '{"to_seq": 57, "records": 8, "packs": 3, "segments": 1, "bytes": 10, "files": 2}' "$URL/v1/agent/jobs/$JOB/produced")
t_check "produced with a missing pack: 400" [ "$(status "$r")" = 400 ]
r=$(c "${A[@]}" -X POST -d '{"to_seq": 57, "records": 8, "packs": 2, "segments": 2, "bytes": 10, "files": 2}' "$URL/v1/agent/jobs/$JOB/produced")
t_check "produced with a missing manifest segment: 400" [ "$(status "$r")" = 400 ]
r=$(c "${A[@]}" -X POST -d "$PRODUCED" "$URL/v1/agent/jobs/$JOB/produced")
t_check "produced 200" [ "$(status "$r")" = 200 ]
r=$(c "${B[@]}" "$URL/v1/agent/poll?wait=5")
t_check "destination gets an apply task" [ "$(body "$r" | jget '["type"]')" = apply ]
names=$(body "$r" | python3 -c 'import json,sys; print(" ".join(b["name"] for b in json.load(sys.stdin)["blobs"]))')
t_check "apply task lists 5 blobs in order ($names)" [ "$names" = "header m0 p0 p1 trailer" ]
t_check "apply task carries to_seq" [ "$(body "$r" | jget '["to_seq"]')" = 57 ]
curl -sS --cacert "$CA" "${B[@]}" -o got-p1.bin "$URL/v1/agent/jobs/$JOB/blobs/p1"
t_check "destination downloads p1 intact" cmp -s got-p1.bin p1.bin
r=$(c "${B[@]}" -X POST -d '{"files_done":1,"files_total":2,"bytes_done":5,"bytes_total":10}' "$URL/v1/agent/jobs/$JOB/progress")
t_check "progress 200" [ "$(status "$r")" = 200 ]
r=$(c "${B[@]}" -X POST -d '{"status":"applied","to_seq":57,"files":2,"bytes":10,"conflicts":0}' "$URL/v1/agent/jobs/$JOB/ack")
t_check "ack applied 200" [ "$(status "$r")" = 200 ]
r=$(c "${B[@]}" -X POST -d '{"status":"applied","to_seq":57}' "$URL/v1/agent/jobs/$JOB/ack")
t_check "repeated ack 200" [ "$(status "$r")" = 200 ]
t_check "blobs kept while gamma is pending" [ -s "$HUB_DATA/blobs/$JOB/p1" ]
r=$(c "${G[@]}" "$URL/v1/agent/poll?wait=5")
r=$(c "${G[@]}" -X POST -d '{"status":"failed","reason":"disk full"}' "$URL/v1/agent/jobs/$JOB/ack")
t_check "ack failed 200" [ "$(status "$r")" = 200 ]
st=$(admin job show "$JOB" --json | jget '["state"]')
t_check "job final: failed (one destination failed)" [ "$st" = failed ]
t_check "blobs deleted when the job is final" [ ! -e "$HUB_DATA/blobs/$JOB" ]
r=$(c "$URL/metrics")
t_check "metrics: bytes received counted" bash -c "grep -q '^certsync_hub_blob_bytes_received_total [1-9]' <<<\"\$1\"" _ "$r"
t_check "metrics: records in p<N> only (3+5+5=13)" bash -c "grep -q '^certsync_hub_chunk_records_received_total 13$' <<<\"\$1\"" _ "$r"
H=$(admin job show "$JOB" --json | jget '["destinations"][0]["history"]')
JOB2=$(admin sync --folder photos --from "$ID_A" --all)
r=$(c "${A[@]}" "$URL/v1/agent/poll?wait=5")
hist=$(body "$r" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(",".join(str(x["history"]) for x in d["destinations"]))')
t_check "next job carries beta's history 57 (got $hist)" bash -c "[[ ',$hist,' == *,57,* ]]"
t_check "--all picks both others" [ "$(body "$r" | jget '["destinations"].__len__()')" = 2 ]
r=$(c "${A[@]}" -X POST -d '{"reason":"cannot read disk"}' "$URL/v1/agent/jobs/$JOB2/failed")
t_check "source failed 200" [ "$(status "$r")" = 200 ]
t_check "job 2 failed" [ "$(admin job show "$JOB2" --json | jget '["state"]')" = failed ]

# --- long poll: a waiting poll is answered as soon as a task is queued
c "${A[@]}" --max-time 1 "$URL/v1/agent/poll?wait=30" >/dev/null 2>&1  # client gives up: dropped
c "${A[@]}" --max-time 25 "$URL/v1/agent/poll?wait=20" > poll.out &
POLL=$!
sleep 1
t0=$SECONDS
JOB3=$(admin sync --folder photos --from "$ID_A" --to "$ID_B")
wait "$POLL"
t_check "waiting poll answered at once with the new job's produce task" \
  [ "$(body "$(cat poll.out)" | jget '["job"]')" = "$JOB3" ] && [ $((SECONDS - t0)) -lt 5 ]
r=$(c "${A[@]}" -X POST -d '{"reason":"test"}' "$URL/v1/agent/jobs/$JOB3/failed")
t_check "the hub survives a dropped poll" alive

# --- hostile and wrong input: each a 4xx JSON error
r=$(c "${A[@]}" -X POST -H 'Content-Type: application/json' -d '{"to_seq": ' "$URL/v1/agent/jobs/$JOB/produced")
t_check "malformed JSON: 400" [ "$(status "$r")" = 400 ]
t_check "... as a JSON error" is_json_error "$r"
r=$(c "${A[@]}" -X POST -d '{"to_seq": 1, "to_seq": 2}' "$URL/v1/agent/jobs/$JOB/produced")
t_check "duplicate JSON keys: 400" [ "$(status "$r")" = 400 ]
r=$(c "${A[@]}" -X POST -d '{"to_seq": "57"}' "$URL/v1/agent/jobs/$JOB/produced")
t_check "wrong member type: 400 malformed" [ "$(body "$r" | jget '["code"]')" = malformed ]
head -c 2000000 /dev/zero | tr '\0' ' ' > big.json
r=$(c "${A[@]}" -X POST -H 'Content-Type: application/json' --data-binary @big.json "$URL/v1/agent/jobs/$JOB/progress")
t_check "oversized JSON body: 413" [ "$(status "$r")" = 413 ]
t_check "... as a JSON error" is_json_error "$r"
head -c 9000000 /dev/zero > huge.bin
r=$(c "${A[@]}" -X PUT --data-binary @huge.bin "$URL/v1/agent/jobs/$JOB/blobs/p9")
t_check "oversized blob: 413" [ "$(status "$r")" = 413 ]
r=$(c -X DELETE "$URL/healthz")
t_check "wrong method: 405" [ "$(status "$r")" = 405 ]
t_check "... as a JSON error" is_json_error "$r"
r=$(c "${A[@]}" -X DELETE "$URL/v1/agent/poll")
t_check "wrong method on the agent API: 405" [ "$(status "$r")" = 405 ]
r=$(c "${A[@]}" -X POST -d '{}' "$URL/v1/agent/jobs/999999/produced")
t_check "unknown job id: 404" [ "$(status "$r")" = 404 ]
t_check "... as a JSON error" is_json_error "$r"
r=$(c "${A[@]}" "$URL/v1/agent/jobs/abc/blobs/p0")
t_check "non-numeric job id: 404" [ "$(status "$r")" = 404 ]
r=$(c "$URL/nowhere")
t_check "unknown path: 404" [ "$(status "$r")" = 404 ]
r=$(c "${A[@]}" "$URL/v1/agent/poll?wait=999")
t_check "poll wait out of range: 400" [ "$(status "$r")" = 400 ]
t_check "the hub keeps answering" alive

# --- admin CLI
out=$(admin device list)
t_check "device list shows alpha" grep -q "alpha" <<<"$out"
t_check "device list shows 3 devices" [ "$(grep -c active <<<"$out")" = 3 ]
n=$(admin device list --json | jget '["devices"].__len__()')
t_check "device list --json" [ "$n" = 3 ]
t_check "job list shows the jobs" bash -c "'$CERTSYNC' hub job list --data '$HUB_DATA' --hub '$URL' | grep -q photos"
newkey epsilon
ID_E=$(admin device add --name epsilon --csr epsilon.csr --out epsilon.crt | head -1)
t_check "device add --csr registers (way 2)" [ -n "$ID_E" ] && [ -s epsilon.crt ]
t_check "device add of the same key again fails" bash -c "! '$CERTSYNC' hub device add --name x --cert epsilon.crt --data '$HUB_DATA' --hub '$URL' 2>/dev/null"
# registration way 3 against a stand-in device (tests/integration/fake_device_info.py)
newkey zeta
openssl req -x509 -key zeta.key -subj /CN=zeta -days 1 -out zeta-self.crt 2>/dev/null
python3 "$HERE/fake_device_info.py" zeta.key zeta.csr zeta zeta-self.crt "$T_DIR/fake.port" 2>"$T_DIR/fake.log" &
T_PIDS+=("$!")
if t_wait 20 test -s "$T_DIR/fake.port"; then
  FPORT=$(cat "$T_DIR/fake.port")
  ID_Z=$(cat "$T_DIR/fake.port.id")
  out=$(admin device discover 127.0.0.1:$FPORT --yes 0000 2>&1 </dev/null)
  t_check "discover shows the device id" grep -q "$ID_Z" <<<"$out"
  t_check "discover with a wrong --yes fingerprint registers nothing" bash -c "! '$CERTSYNC' hub device list --data '$HUB_DATA' --hub '$URL' | grep -q zeta"
  FP=$(sed -n 's/^fingerprint: *//p' <<<"$out")
  t_check "discover without --yes and without a terminal refuses" bash -c "! '$CERTSYNC' hub device discover 127.0.0.1:$FPORT --data '$HUB_DATA' --hub '$URL' </dev/null >/dev/null 2>&1"
  out=$(admin device discover 127.0.0.1:$FPORT --yes "$FP" </dev/null)
  t_check "discover --yes FINGERPRINT registers (way 3)" grep -q "registered $ID_Z" <<<"$out"
  t_check "the device received its certificate" openssl verify -CAfile "$CA" "$T_DIR/fake.port.cert"
  r=$(c --cert "$T_DIR/fake.port.cert" --key zeta.key "$URL/v1/agent/self")
  t_check "the discovered device can use the agent API" [ "$(status "$r")" = 200 ]
else
  t_fail "fake device starts"
fi
r=$(c -X POST --cert "$HUB_DATA/admin/admin.crt" --key "$HUB_DATA/admin/admin.key" -d '{"address":"127.0.0.1:1"}' "$URL/v1/admin/devices/discover")
t_check "discover of an unreachable address: 502 JSON" [ "$(status "$r")" = 502 ]

# --- pipelined delivery: destinations start at "ready" while packs follow
JOB2=$(admin sync --folder photos --from "$ID_A" --to "$ID_B")
r=$(c "${A[@]}" "$URL/v1/agent/poll?wait=5")
t_check "source gets the second produce task" [ "$(body "$r" | jget '["job"]')" = "$JOB2" ]
up2() { c "${A[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" "$URL/v1/agent/jobs/$JOB2/blobs/$1"; }
r=$(c "${A[@]}" -X POST -d '{"to_seq": 0}' "$URL/v1/agent/jobs/$JOB2/ready")
t_check "ready before the header: 400" [ "$(status "$r")" = 400 ]
up2 header header.bin >/dev/null
r=$(c "${A[@]}" -X POST -d '{"to_seq": 0}' "$URL/v1/agent/jobs/$JOB2/ready")
t_check "ready with the header: 200" [ "$(status "$r")" = 200 ]
r=$(c "${B[@]}" "$URL/v1/agent/poll?wait=5")
t_check "the destination gets its apply task before the packs exist" [ "$(body "$r" | jget '["job"]')" = "$JOB2" ]
# a download of a pack not uploaded yet is held until the pack is stored;
# one that nothing comes for gets 503 not_ready after 5 s, and one still
# held when the source is done is answered as the job then stands
c "${B[@]}" "$URL/v1/agent/jobs/$JOB2/blobs/p0" -o held-p0.bin >held-p0.code 2>&1 &
HELD=$!
c "${B[@]}" "$URL/v1/agent/jobs/$JOB2/blobs/p7" >held-p7.out 2>&1 &
HELD7=$!
T7=$SECONDS
sleep 1
t_check "a pack not uploaded yet: the download is held" kill -0 "$HELD"
r=$(c "${B[@]}" "$URL/v1/agent/jobs/$JOB2/blobs/p01")
t_check "a name no pack can have is not held: 404" [ "$(status "$r")" = 404 ]
r=$(up2 header header.bin)
t_check "the header of an announced job cannot change: 409" [ "$(status "$r")" = 409 ]
t_check "job shows uploaded false" [ "$(admin job show "$JOB2" --json | jget '["uploaded"]')" = False ]
r=$(up2 m0 m0.bin)
t_check "manifest segments upload after ready: 201" [ "$(status "$r")" = 201 ]
r=$(up2 p0 p0.bin)
t_check "packs upload after ready: 201" [ "$(status "$r")" = 201 ]
wait "$HELD"
t_check "the held download gets the pack once it is stored: 200" [ "$(tail -n1 held-p0.code)" = 200 ]
t_check "... with the uploaded bytes" cmp -s held-p0.bin p0.bin
r=$(c "${B[@]}" "$URL/v1/agent/jobs/$JOB2/blobs/p0")
t_check "then the destination gets it: 200" [ "$(status "$r")" = 200 ]
wait "$HELD7"
t_check "a pack that does not come within 5 s: 503 not_ready" [ "$(status "$(cat held-p7.out)")" = 503 ]
t_check "... code not_ready" [ "$(body "$(cat held-p7.out)" | jget '["code"]')" = not_ready ]
t_check "... after the wait" [ $((SECONDS - T7)) -ge 4 ]
c "${B[@]}" "$URL/v1/agent/jobs/$JOB2/blobs/p8" >held-p8.out 2>&1 &
HELD8=$!
sleep 0.5
t_check "the hub holds the download of p8" kill -0 "$HELD8"
t_check "... and counts it in /metrics" [ "$(metric certsync_hub_blob_downloads_held)" = 1 ]
# the trailer, though stored, is held until the source reports the job
# produced: a destination must not acknowledge before the hub knows to_seq
up2 trailer trailer.bin >/dev/null
c "${B[@]}" "$URL/v1/agent/jobs/$JOB2/blobs/trailer" -o held-trailer.bin >held-trailer.code 2>&1 &
HELDT=$!
sleep 0.5
t_check "the trailer's download is held until produced" kill -0 "$HELDT"
r=$(c "${A[@]}" -X POST -d '{"to_seq": 60, "records": 3, "packs": 1, "segments": 1, "bytes": 10, "files": 1}' "$URL/v1/agent/jobs/$JOB2/produced")
t_check "produced after ready: 200" [ "$(status "$r")" = 200 ]
wait "$HELD8"
t_check "a download held when the source is done: 404" [ "$(status "$(cat held-p8.out)")" = 404 ]
wait "$HELDT"
t_check "the held trailer comes at produced: 200" [ "$(tail -n1 held-trailer.code)" = 200 ]
t_check "... with the uploaded bytes" cmp -s held-trailer.bin trailer.bin
t_check "job shows uploaded true" [ "$(admin job show "$JOB2" --json | jget '["uploaded"]')" = True ]
r=$(up2 p1 p1.bin)
t_check "uploads close at produced: 409" [ "$(status "$r")" = 409 ]

# a download held for a device that is revoked meanwhile is refused
JOB3=$(admin sync --folder photos --from "$ID_A" --to "$ID_G")
r=$(c "${A[@]}" "$URL/v1/agent/poll?wait=5")
t_check "source gets the third produce task" [ "$(body "$r" | jget '["job"]')" = "$JOB3" ]
up3() { c "${A[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$2" "$URL/v1/agent/jobs/$JOB3/blobs/$1"; }
up3 header header.bin >/dev/null
c "${A[@]}" -X POST -d '{"to_seq": 0}' "$URL/v1/agent/jobs/$JOB3/ready" >/dev/null
c "${G[@]}" "$URL/v1/agent/jobs/$JOB3/blobs/p0" >held-g.out 2>&1 &
HELDG=$!
sleep 0.5
t_check "gamma's download of a pack to come is held" kill -0 "$HELDG"
admin device revoke "$ID_G" >/dev/null
up3 p0 p0.bin >/dev/null
wait "$HELDG"
t_check "... and refused once gamma is revoked: 403 revoked" [ "$(body "$(cat held-g.out)" | jget '["code"]')" = revoked ]

r=$(c "${G[@]}" "$URL/v1/agent/self")
t_check "revoked device: 403" [ "$(status "$r")" = 403 ]
t_check "... code revoked" [ "$(body "$r" | jget '["code"]')" = revoked ]
t_check "... message" [ "$(body "$r" | jget '["error"]')" = "device certificate revoked" ]
t_check "CRL lists the revoked certificate" bash -c "curl -s --cacert '$CA' '$URL/v1/crl' | openssl crl -noout -text | grep -qi \"\$(openssl x509 -in gamma.crt -noout -serial | cut -d= -f2)\""
t_check "sync to a revoked device is refused" bash -c "! '$CERTSYNC' hub sync --folder photos --from '$ID_A' --to '$ID_G' --data '$HUB_DATA' --hub '$URL' 2>/dev/null"
t_check "the hub still answers" alive

# --- restart keeps state
kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null
t_check "SIGTERM stops the hub cleanly" grep -q 'hub.stop' "$T_DIR/hub.log"
"$CERTSYNC" hub serve --data "$HUB_DATA" --listen 127.0.0.1:0 >"$T_DIR/serve.out" 2>>"$T_DIR/hub.log" &
HUB_PID=$!
T_PIDS+=("$HUB_PID")
t_wait 20 grep -q '^hub listening on ' "$T_DIR/serve.out"
URL=$(sed -n 's/^hub listening on //p' "$T_DIR/serve.out")
t_check "after a restart the registry is intact" [ "$(admin device list --json | jget '["devices"].__len__()')" = 5 ]
kill -9 "$HUB_PID"
t_finish
