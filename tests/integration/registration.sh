#!/usr/bin/env bash
# The three registration ways of DESIGN §4 all end in a registry row with the
# device certificate, and the device can then sync.
. "$(dirname "$0")/lib.bash"
t_setup registration

hub_start || { t_fail "hub starts"; t_finish; exit 1; }
CA_FP=$(openssl x509 -in "$HUB_DATA/ca/ca.crt" -outform DER | sha256sum | cut -c1-64)

# Way 1: enrollment token (also covers the pinned CA).
t_check "way 1: enrollment with a token" device_new A
folder_add A docs "$T_DIR/A-docs" >/dev/null

# A token whose CA fingerprint does not match the hub is refused before anything is sent.
"$CERTSYNC" device init --data "$T_DIR/E" --name evil >/dev/null
good=$(hub token create)
bad=$(python3 - "$good" <<'PY'
import base64, sys
t = sys.argv[1]; body = t[len("cse1:"):]
raw = bytearray(base64.b32decode(body + "=" * (-len(body) % 8)))
raw[-20] ^= 1   # inside the CA fingerprint
print("cse1:" + base64.b32encode(bytes(raw)).decode().rstrip("="))
PY
)
out=$("$CERTSYNC" device enroll "$bad" --data "$T_DIR/E" 2>&1); rc=$?
t_check "a token pinning another CA is refused: $out" bash -c "[ $rc -ne 0 ] && echo '$out' | grep -qi fingerprint"
out=$("$CERTSYNC" device enroll "$good" --data "$T_DIR/E" 2>&1)
out=$("$CERTSYNC" device enroll "$good" --data "$T_DIR/E" 2>&1); rc=$?
t_check "a used token is refused: $out" [ $rc -ne 0 ]

# Way 2: the operator enters the device's information (from its CSR).
id=$("$CERTSYNC" device init --data "$T_DIR/B" --name bravo)
openssl req -new -key "$T_DIR/B/device.key" -subj /CN=bravo -out "$T_DIR/B/b.csr" 2>/dev/null
hub device add --name bravo --csr "$T_DIR/B/b.csr" --address 127.0.0.1:9 --out "$T_DIR/B/device.crt" >/dev/null
cp "$HUB_DATA/ca/ca.crt" "$T_DIR/B/ca.crt"
printf '{"name":"bravo","hub":"127.0.0.1:%s"}\n' "$HUB_PORT" > "$T_DIR/B/device.json"
t_check "way 2: the device is in the registry" bash -c "hub() { '$CERTSYNC' hub \"\$@\" --data '$HUB_DATA'; }; hub device list | grep -q bravo"
t_check "way 2: the device can use the hub" folder_add B docs "$T_DIR/B-docs"
ID_B=$id

# Way 3: the hub asks the device at its address; the operator confirms the fingerprint.
"$CERTSYNC" device init --data "$T_DIR/C" --name charlie >/dev/null
CPORT=$(t_free_port)
"$CERTSYNC" device listen --data "$T_DIR/C" --listen 127.0.0.1:$CPORT --hub 127.0.0.1:$HUB_PORT \
  --hub-ca "$CA_FP" > "$T_DIR/listen.out" 2>&1 &
LPID=$!; T_PIDS+=("$LPID")
t_wait 20 grep -q "listening on port" "$T_DIR/listen.out"
fp=$(awk '/^fingerprint/ {print $2}' "$T_DIR/listen.out")
wrong=$(printf '%s' "$fp" | tr '0-9a-f' '1-9a-f0')
out=$(hub device discover 127.0.0.1:$CPORT --yes "$wrong" 2>&1); rc=$?
t_check "way 3: a wrong fingerprint is not confirmed" [ $rc -ne 0 ]
hub device discover 127.0.0.1:$CPORT --yes "$fp" >/dev/null
t_wait 20 bash -c "! kill -0 $LPID 2>/dev/null"
t_check "way 3: the device received its certificate" test -s "$T_DIR/C/device.crt"
t_check "way 3: the device can use the hub" folder_add C docs "$T_DIR/C-docs"
ID_C=$("$CERTSYNC" device show --data "$T_DIR/C" | awk '/device id/ {print $3}')

# All three sync.
echo "registered three ways" > "$T_DIR/A-docs/hello.txt"
for d in A B C; do agent_start $d; done
job=$(hub sync --folder docs --from "$ID_A" --all)
st=$(job_wait "$job" 60)
t_check "a job to devices registered by way 2 and 3 completes: $st" [ "$st" = done ]
t_check "B has the file" cmp -s "$T_DIR/A-docs/hello.txt" "$T_DIR/B-docs/hello.txt"
t_check "C has the file" cmp -s "$T_DIR/A-docs/hello.txt" "$T_DIR/C-docs/hello.txt"
t_finish
