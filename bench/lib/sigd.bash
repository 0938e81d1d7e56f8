# shellcheck shell=bash
# The signature verification cluster (DESIGN §10, issue 7): two centers and
# an edge on loopback, as tests/integration/sigd.sh sets them up, and
# build/sigd_bench as the client. N certificates of one issuing CA (P-256),
# each with one signed message, are added to center 2 only; then
#   cold   each certificate verified once at the edge, one after the other:
#          every request makes the edge fetch (center 1: not found, center 2:
#          found, checked, stored); p50/p99 of those requests;
#   warm   the same certificates, now held by the edge, verified for SECONDS
#          by one connection in batches of 100, then by two connections one
#          verification per request: verifications per second;
#   openssl speed ecdsap256 (verify/s, one core) as the reference.
# Results under the pseudo-dataset "sigd".

SIGD_CERTS=${SIGD_CERTS:-1000}
SIGD_SECONDS=${SIGD_SECONDS:-10}

sigd_all() {
  local dir=$WORK/state bin k v n p1 p2 p3
  mkdir -p "$dir"
  [ "$QUICK" -eq 1 ] && SIGD_CERTS=200 SIGD_SECONDS=3
  bin=${SIGD_BENCH:-$(dirname "$CERTSYNC_BUILT")/sigd_bench}
  [ -x "$bin" ] || { result sigd status "failed: no sigd_bench at $bin (build it first)"; return 1; }
  "$bin" prepare "$dir/data" "$SIGD_CERTS" >>"$dir/setup.log" 2>&1 || { result sigd status "failed: prepare"; return 1; }
  p1=$(free_port) p2=$(free_port) p3=$(free_port)
  "$CERTSYNC" sigd init --data "$dir/c1" --cluster-ca "$dir/ca" --name c1 --listen "127.0.0.1:$p1" \
    --peer "https://127.0.0.1:$p2" --trust-anchor "$dir/data/anchor.crt" >>"$dir/setup.log" 2>&1 &&
  "$CERTSYNC" sigd init --data "$dir/c2" --cluster-ca "$dir/ca" --name c2 --listen "127.0.0.1:$p2" \
    --peer "https://127.0.0.1:$p1" --trust-anchor "$dir/data/anchor.crt" >>"$dir/setup.log" 2>&1 &&
  "$CERTSYNC" sigd init --data "$dir/e1" --cluster-ca "$dir/ca" --name e1 --role edge --listen "127.0.0.1:$p3" \
    --peer "https://127.0.0.1:$p1" --peer "https://127.0.0.1:$p2" --trust-anchor "$dir/data/anchor.crt" \
    >>"$dir/setup.log" 2>&1 || { result sigd status "failed: sigd init"; return 1; }
  for n in c1 c2 e1; do
    "$CERTSYNC" sigd serve --config "$dir/$n/sigd.json" --log-level warn >>"$dir/$n.log" 2>&1 &
    BENCH_PIDS+=("$!")
  done
  for p in $p1 $p2 $p3; do
    wait_until 20 curl -sfk "https://127.0.0.1:$p/healthz" -o /dev/null || { result sigd status "failed: a node"; return 1; }
  done
  sleep 1 # the edge's first health checks
  "$CERTSYNC" sigd cert add --node "https://127.0.0.1:$p2" --cluster-ca "$dir/ca" "$dir/data/certs.pem" \
    >>"$dir/setup.log" 2>&1 || { result sigd status "failed: cert add"; return 1; }
  local url=https://127.0.0.1:$p3 ca=$dir/ca/ca.crt items=$dir/data/items.txt
  while read -r k v; do result sigd "$k" "$v"; done < <("$bin" cold "$url" "$ca" "$items" 2>>"$dir/bench.err") ||
    { result sigd status "failed: cold (see $dir/bench.err)"; return 1; }
  while read -r k v; do result sigd "batch_$k" "$v"; done < <("$bin" warm "$url" "$ca" "$items" 1 "$SIGD_SECONDS" 100 2>>"$dir/bench.err") ||
    { result sigd status "failed: warm (see $dir/bench.err)"; return 1; }
  while read -r k v; do result sigd "single_$k" "$v"; done < <("$bin" warm "$url" "$ca" "$items" 2 "$SIGD_SECONDS" 1 2>>"$dir/bench.err") ||
    { result sigd status "failed: warm (see $dir/bench.err)"; return 1; }
  result sigd openssl_verify_per_s "$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/nistp256/ { print $NF }')"
  result sigd certs "$SIGD_CERTS"
  result sigd status ok
}
