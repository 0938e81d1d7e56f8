#!/usr/bin/env bash
# The signature verification cluster (DESIGN §10, PROTOCOL.md §14): two
# centers and two edges on loopback (and a third edge in local mode). A
# certificate held by one center reaches an edge and the other center on
# demand, asking in order; a killed center is skipped and used again once
# restarted; a frozen one costs one timeout, not one per request; misses are
# remembered for the negative-cache threshold; 100 concurrent requests share
# one fetch; fetched certificates that are untrusted, revoked or expired are
# refused and not stored; bad requests get 4xx with their own codes.
. "$(dirname "$0")/lib.bash"
t_setup sigd
cd "$T_DIR" || exit 1
CA=$T_DIR/cluster-ca

# ---- an issuing CA (the trust anchor), its certificates, a CRL, another CA
cat >ca.cnf <<'EOF'
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_crl_days = 30
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
EOF
mkdir -p newcerts && : >index.txt && echo 1000 >serial && echo 01 >crlnumber
mkca() { # mkca NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.crt" \
    -subj "/CN=$1" -days 365 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
mkleaf() { # mkleaf NAME CA [extra openssl ca options]
  local n=$1 ca=$2; shift 2
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$n.key" -out "$n.csr" \
    -subj "/CN=$n" 2>/dev/null &&
    openssl ca -batch -config ca.cnf -cert "$ca.crt" -keyfile "$ca.key" -in "$n.csr" -out "$n.crt" -notext "$@" \
      >/dev/null 2>&1
}
fp() { openssl x509 -in "$1.crt" -outform DER | sha256sum | cut -c1-64; }
sign() { echo "message for $1 $2" >"$1-$2.msg" && openssl dgst -sha256 -sign "$1.key" -out "$1-$2.sig" "$1-$2.msg"; }
mkca anchor && mkca other || { t_fail "make the test CAs"; t_finish; exit 1; }
for n in alice bob carol dave erin frank grace heidi; do mkleaf $n anchor -days 30 || t_fail "issue $n"; done
mkleaf mallory other -days 30 || t_fail "issue mallory from another CA"
mkleaf revoked anchor -days 30 && openssl ca -config ca.cnf -cert anchor.crt -keyfile anchor.key -revoke revoked.crt \
  >/dev/null 2>&1 && openssl ca -config ca.cnf -cert anchor.crt -keyfile anchor.key -gencrl -out anchor.crl \
  >/dev/null 2>&1 || t_fail "revoke a certificate"

# ---- the cluster: c1, c2 (centers), e1, e2 (edges), e3 (edge, local mode)
declare -A PORT PID
for n in c1 c2 e1 e2 e3; do PORT[$n]=$(t_free_port); done
url() { echo "https://127.0.0.1:${PORT[$1]}"; }
"$CERTSYNC" sigd init --data c1 --cluster-ca "$CA" --name c1 --role center --listen "127.0.0.1:${PORT[c1]}" \
  --peer "$(url c2)" --trust-anchor anchor.crt >/dev/null &&
"$CERTSYNC" sigd init --data c2 --cluster-ca "$CA" --name c2 --role center --listen "127.0.0.1:${PORT[c2]}" \
  --peer "$(url c1)" --trust-anchor anchor.crt --trust-anchor other.crt >/dev/null &&
for e in e1 e2; do
  "$CERTSYNC" sigd init --data $e --cluster-ca "$CA" --name $e --role edge --listen "127.0.0.1:${PORT[$e]}" \
    --peer "$(url c1)" --peer "$(url c2)" --trust-anchor anchor.crt >/dev/null || exit 1
done &&
"$CERTSYNC" sigd init --data e3 --cluster-ca "$CA" --name e3 --role edge --mode local \
  --listen "127.0.0.1:${PORT[e3]}" --peer "$(url c1)" --trust-anchor anchor.crt >/dev/null ||
  { t_fail "sigd init"; t_finish; exit 1; }
# the edges know the CRL; timeouts and the negative cache short for the test
for n in c1 c2 e1 e2 e3; do
  python3 - "$n/sigd.json" "$n" <<'PY'
import json, sys
p, n = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c.update(health_interval_ms=300, connect_timeout_ms=500, request_timeout_ms=1000, negative_cache_ms=2000)
if n.startswith("e"):
    c["crls"] = [__import__("os").path.abspath("anchor.crl")]
if n == "e1":  # the concurrency test holds a lookup on a frozen center for a while
    c.update(connect_timeout_ms=5000, request_timeout_ms=5000)
json.dump(c, open(p, "w"), indent=2)
PY
done
start() {
  "$CERTSYNC" sigd serve --config "$1/sigd.json" >>"$1.log" 2>&1 &
  PID[$1]=$!
  T_PIDS+=("${PID[$1]}")
  t_wait 20 curl -sfk "$(url "$1")/healthz" -o /dev/null
}
for n in c1 c2 e1 e2 e3; do start $n || t_fail "$n starts"; done
# counters
m() { curl -sk "$(url "$1")/metrics" | awk -v k="$2" '$1 == k { print $2 }'; }
peer_fetch() { m "$1" "certsync_sigd_peer_fetches_total{peer=\"$(url "$2")\",result=\"$3\"}"; }
up_all() { [ "$(m "$1" "certsync_sigd_peer_up{peer=\"$(url c1)\"}")" = 1 ] && [ "$(m "$1" "certsync_sigd_peer_up{peer=\"$(url c2)\"}")" = 1 ]; }
for e in e1 e2; do t_wait 10 up_all $e || t_fail "$e sees both centers up"; done
add() { "$CERTSYNC" sigd cert add --node "$(url "$1")" --cluster-ca "$CA" "$2.crt" >/dev/null; }
verify() { # verify NODE CERT [SIGNER]: the CLI's verify of a fresh message
  sign "${3:-$2}" "$RANDOM"
  local last; last=$(ls -t "${3:-$2}"-*.sig | head -1); last=${last%.sig}
  "$CERTSYNC" sigd verify --node "$(url "$1")" --cluster-ca "$CA" --cert "$(fp "$2")" --data "$last.msg" \
    --signature "$last.sig" 2>&1
}
refused_with() { [ "$1" -eq 3 ] && grep -q "refused: $3:" <<<"$2"; }

# ---- administration
out=$("$CERTSYNC" sigd cert add --node "$(url c2)" --cluster-ca "$CA" alice.crt 2>&1)
t_check "the administrator adds alice to center 2: $out" grep -q "added $(fp alice)" <<<"$out"
out=$(curl -sk -X POST --data-binary @bob.crt "$(url c2)/v1/admin/certs" -w ' %{http_code}')
t_check "adding without the administrator certificate is refused (403): $out" grep -q 'admin_required.* 403$' <<<"$out"
out=$("$CERTSYNC" sigd cert add --node "$(url c1)" --cluster-ca "$CA" mallory.crt 2>&1); rc=$?
t_check "a certificate of another CA is refused at the admin API: $out" refused_with $rc "$out" cert_untrusted

# ---- on-demand fetch, in order
out=$(verify e1 alice); rc=$?
t_check "edge 1 verifies alice's signature after fetching her certificate: $out" \
  bash -c "[ $rc -eq 0 ] && grep -q fetched <<<'$out'"
t_check "edge 1 asked center 1 first (not found) and then center 2 (found)" \
  [ "$(peer_fetch e1 c1 not_found)/$(peer_fetch e1 c2 found)" = "1/1" ]
out=$(verify c1 alice); rc=$?
t_check "center 1 fetches alice's certificate from center 2: $out" bash -c "[ $rc -eq 0 ] && grep -q fetched <<<'$out'"
t_check "center 1 asked center 2" [ "$(peer_fetch c1 c2 found)" = 1 ]
before="$(peer_fetch e1 c1 not_found)/$(peer_fetch e1 c2 found)/$(peer_fetch c1 c2 found)"
out1=$(verify e1 alice); out2=$(verify c1 alice)
t_check "afterwards both answer from their own store: $out1 / $out2" \
  bash -c "grep -q local <<<'$out1' && grep -q local <<<'$out2' && [ \"$before\" = \"$(peer_fetch e1 c1 not_found)/$(peer_fetch e1 c2 found)/$(peer_fetch c1 c2 found)\" ]"
t_check "center 2 served the certificate twice" [ "$(m c2 certsync_sigd_certs_served_total)" = 2 ]

# ---- center 1 killed: skipped without a timeout each time; restarted: used again
kill -9 "${PID[c1]}"; wait "${PID[c1]}" 2>/dev/null
add c2 bob; add c2 carol; add c2 dave
out=$(verify e2 bob); t_check "with center 1 dead, edge 2 gets bob from center 2: $out" grep -q fetched <<<"$out"
f1=$(peer_fetch e2 c1 failed)
t_check "edge 2 marked center 1 down" [ "$(m e2 "certsync_sigd_peer_up{peer=\"$(url c1)\"}")" = 0 ]
t0=$(date +%s%N); out=$(verify e2 carol); ms=$((($(date +%s%N) - t0) / 1000000))
t_check "the next lookup skips center 1 (no new request to it) and takes ${ms} ms: $out" \
  bash -c "grep -q fetched <<<'$out' && [ '$(peer_fetch e2 c1 failed)' = '$f1' ] && [ $ms -lt 900 ]"
start c1 || t_fail "center 1 restarts"
t_check "edge 2 sees center 1 up again" t_wait 10 up_all e2
add c1 erin
out=$(verify e2 erin)
t_check "center 1 is used again: edge 2 fetches erin from it: $out" \
  bash -c "grep -q fetched <<<'$out' && [ '$(peer_fetch e2 c1 found)' = 1 ]"

# a frozen center (accepts connections, never answers) costs one timeout, then is skipped
kill -STOP "${PID[c1]}"
f1=$(peer_fetch e2 c1 failed)
t0=$(date +%s%N); out=$(verify e2 dave); first=$((($(date +%s%N) - t0) / 1000000))
f2=$(peer_fetch e2 c1 failed)
add c2 frank
t0=$(date +%s%N); out2=$(verify e2 frank); second=$((($(date +%s%N) - t0) / 1000000))
f3=$(peer_fetch e2 c1 failed)
kill -CONT "${PID[c1]}"
t_check "frozen center 1: the first lookup waits out a timeout (${first} ms, failures $f1 -> $f2), \
the next skips it (${second} ms, failures $f3)" \
  bash -c "grep -q fetched <<<'$out' && grep -q fetched <<<'$out2' && [ $first -ge 450 ] && \
    [ $((f1 + 1)) = $f2 ] && [ $f2 = $f3 ] && [ $second -lt $first ]"
t_wait 10 up_all e2 || t_fail "center 1 recovers after SIGCONT"

# ---- negative cache
nf="$(peer_fetch e1 c1 not_found)/$(peer_fetch e1 c2 not_found)"
out=$(verify e1 grace); rc=$?
t_check "a certificate no node holds: cert_unknown after asking the centers: $out" refused_with $rc "$out" cert_unknown
nf2="$(peer_fetch e1 c1 not_found)/$(peer_fetch e1 c2 not_found)"
t_check "both centers were asked ($nf -> $nf2)" [ "$nf" != "$nf2" ]
neg=$(m e1 certsync_sigd_negative_cache_hits_total)
t0=$(date +%s%N); out=$(verify e1 grace); rc=$?; ms=$((($(date +%s%N) - t0) / 1000000))
t_check "within the threshold the miss is answered at once (${ms} ms) with no peer traffic" \
  bash -c "[ $rc -eq 3 ] && [ '$(peer_fetch e1 c1 not_found)/$(peer_fetch e1 c2 not_found)' = '$nf2' ] && [ '$(m e1 certsync_sigd_negative_cache_hits_total)' = $((neg + 1)) ]"
sleep 2.2
verify e1 grace >/dev/null
t_check "after the threshold the centers are asked again" \
  [ "$(peer_fetch e1 c1 not_found)/$(peer_fetch e1 c2 not_found)" != "$nf2" ]

# ---- local mode, and certificates refused after a fetch
out=$(verify e3 alice); rc=$?
t_check "local mode refuses a certificate it does not hold (cert_unknown, no peer asked): $out" \
  bash -c "[ $rc -eq 3 ] && grep -q 'refused: cert_unknown:.*local mode' <<<'$out' && [ '$(peer_fetch e3 c1 not_found)$(peer_fetch e3 c1 found)' = 00 ]"
add c2 mallory
held=$(m e1 certsync_sigd_certs)
out=$(verify e1 mallory); rc=$?
t_check "a fetched certificate that does not chain to the edge's anchors is refused: $out" \
  refused_with $rc "$out" cert_untrusted
add c2 revoked
out=$(verify e1 revoked); rc=$?
t_check "a fetched certificate revoked by the edge's CRL is refused: $out" refused_with $rc "$out" cert_revoked
# a certificate that expires while a center holds it (added while valid)
mkleaf old anchor -startdate 20250101000000Z -enddate "$(date -u -d '+4 seconds' +%Y%m%d%H%M%SZ)" ||
  t_fail "issue a certificate about to expire"
add c2 old || t_fail "center 2 takes the certificate while it is valid"
sleep 5
out=$(verify e1 old); rc=$?
t_check "a fetched certificate that expired is refused: $out" refused_with $rc "$out" cert_expired
t_check "none of the three was stored by the edge ($held)" [ "$(m e1 certsync_sigd_certs)" = "$held" ]

# ---- 100 concurrent requests for one missing certificate: one fetch
add c1 heidi
served=$(m c1 certsync_sigd_certs_served_total); started=$(m e1 'certsync_sigd_lookups_total{kind="started"}')
kill -STOP "${PID[c1]}"   # hold the lookup so that all 100 join it
python3 - "$(url e1)" "$CA/ca.crt" "$(fp heidi)" heidi.key "${PID[c1]}" >"$T_DIR/concurrent.out" 2>&1 <<'PY'
import base64, json, os, ssl, subprocess, sys, threading, time, urllib.request
url, ca, fp, key, pid = sys.argv[1:6]
data = b"one message, a hundred times"
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data, capture_output=True, check=True).stdout
body = json.dumps({"cert": fp, "alg": "ecdsa-p256-sha256", "data": base64.b64encode(data).decode(),
                   "signature": base64.b64encode(sig).decode()}).encode()
ctx = ssl.create_default_context(cafile=ca)
results, barrier = [], threading.Barrier(100)
def one():
    barrier.wait()
    try:
        r = urllib.request.urlopen(urllib.request.Request(url + "/v1/verify", body, {"Content-Type": "application/json"}),
                                   context=ctx, timeout=30)
        results.append(r.status)
    except Exception as e:
        results.append(str(e))
ts = [threading.Thread(target=one) for _ in range(100)]
[t.start() for t in ts]
time.sleep(1.5)                      # all 100 are waiting on the one lookup
os.kill(int(pid), 18)                # SIGCONT: center 1 answers
[t.join() for t in ts]
print(json.dumps({"ok": results.count(200), "other": [r for r in results if r != 200][:3]}))
sys.exit(0 if results.count(200) == 100 else 1)
PY
t_check "100 concurrent requests all succeed: $(cat "$T_DIR/concurrent.out")" [ $? -eq 0 ]
t_check "they made one lookup ($started -> $(m e1 'certsync_sigd_lookups_total{kind="started"}'); \
$(m e1 'certsync_sigd_lookups_total{kind="joined"}') joined) and center 1 served one fetch ($served -> \
$(m c1 certsync_sigd_certs_served_total))" \
  [ "$(m e1 'certsync_sigd_lookups_total{kind="started"}')/$(m c1 certsync_sigd_certs_served_total)" = \
    "$((started + 1))/$((served + 1))" ]

# ---- bad requests: 4xx with their own codes; the nodes keep serving
post() { curl -sk -o "$T_DIR/post.out" -w '%{http_code}' -X "${2:-POST}" -H 'Content-Type: application/json' \
  --data-binary "$1" "$(url e1)/v1/verify"; }
code_is() { [ "$1" = "$2" ] && grep -q "\"code\":\"$3\"" "$T_DIR/post.out"; }
sign alice bad
D=$(base64 -w0 alice-bad.msg); S=$(base64 -w0 alice-bad.sig); F=$(fp alice)
st=$(post "{\"cert\":\"$F\",\"alg\":\"ecdsa-p256-sha256\",\"data\":\"$(echo other | base64 -w0)\",\"signature\":\"$S\"}")
t_check "a bad signature: 422 signature_invalid" code_is "$st" 422 signature_invalid
st=$(post "{\"cert\":\"$F\",\"alg\":\"ed25519\",\"data\":\"$D\",\"signature\":\"$S\"}")
t_check "an unknown algorithm: 400 alg_unknown" code_is "$st" 400 alg_unknown
st=$(post "{\"cert\":\"$F\",\"alg\":\"rsa-pss-sha256\",\"data\":\"$D\",\"signature\":\"$S\"}")
t_check "an algorithm the key does not do: 422 alg_mismatch" code_is "$st" 422 alg_mismatch
st=$(post '{"cert": "xyz", "alg"')
t_check "malformed JSON: 400 malformed" code_is "$st" 400 malformed
st=$(post "{\"cert\":\"12ab\",\"alg\":\"ecdsa-p256-sha256\",\"data\":\"$D\",\"signature\":\"$S\"}")
t_check "a malformed fingerprint: 400 malformed" code_is "$st" 400 malformed
st=$(post "{\"cert\":\"$F\",\"alg\":\"ecdsa-p256-sha256\",\"data\":\"$D\",\"signature\":\"%%%\"}")
t_check "a signature that is not base64: 400 malformed" code_is "$st" 400 malformed
st=$(post '{}' GET)
t_check "a wrong method: 405" [ "$st" = 405 ]
head -c 17000000 /dev/zero | tr '\0' 'a' >"$T_DIR/big.json"
st=$(curl -sk -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T_DIR/big.json" "$(url e1)/v1/verify")
t_check "an oversized body: 413" [ "$st" = 413 ]
st=$(post "{\"items\":[{\"cert\":\"$F\",\"alg\":\"ecdsa-p256-sha256\",\"data\":\"$D\",\"signature\":\"$S\"},{\"cert\":\"$F\",\"alg\":\"x\",\"data\":\"$D\",\"signature\":\"$S\"}]}")
t_check "a batch answers each item: one valid, one alg_unknown" \
  bash -c "[ $st = 200 ] && grep -q '\"valid\":1' '$T_DIR/post.out' && grep -q alg_unknown '$T_DIR/post.out'"
st=$(curl -sk -o /dev/null -w '%{http_code}' "$(url c1)/v1/certs/nothex")
t_check "a peer fetch with a malformed fingerprint: 400" [ "$st" = 400 ]
out=$(verify e1 alice)
t_check "after all that, edge 1 still verifies: $out" grep -q valid <<<"$out"
t_check "the metrics carry latency histograms" bash -c \
  "curl -sk '$(url e1)/metrics' | grep -q 'certsync_sigd_verify_seconds_bucket{le=\"0.001\"}' && curl -sk '$(url e1)/metrics' | grep -q certsync_sigd_fetch_seconds_count"

t_finish
