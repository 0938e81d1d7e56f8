#!/usr/bin/env bash
# The hub's web console, server side (PROTOCOL.md §10), driven with curl:
# the embedded files and their security headers, routing next to the API,
# admin login with the failed-login delay, the session cookie and the CSRF
# header on /v1/admin, the idle timeout, logout, and `hub admin password`.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.bash"
t_setup console-api
cd "$T_DIR" || exit 1

HUB_DATA=$T_DIR/hub
"$CERTSYNC" hub init --data "$HUB_DATA" --listen 127.0.0.1:0 >init.out || { t_fail "hub init"; t_finish; exit 1; }
PW_FILE=$HUB_DATA/admin/console-password
t_check "hub init prints the console password" grep -q '^  console password: [A-Z2-7]\{20\}$' init.out
t_check "... and keeps it in admin/console-password" grep -qF "$(cat "$PW_FILE")" init.out
t_check "... mode 0600" [ "$(stat -c %a "$PW_FILE")" = 600 ]
t_check "the database holds only an argon2id hash" bash -c "! grep -qaF '$(cat "$PW_FILE")' '$HUB_DATA'/hub.db*"
PW=$(cat "$PW_FILE")

# a short idle timeout, so that the test can watch a session expire (not
# shorter: on a loaded machine a few curl calls can take seconds)
IDLE=8
python3 - "$HUB_DATA/hub.json" "$IDLE" <<'EOF'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d["console_idle_s"] = int(sys.argv[2])
open(p, "w").write(json.dumps(d, indent=2))
EOF

"$CERTSYNC" hub serve --data "$HUB_DATA" --listen 127.0.0.1:0 >"$T_DIR/serve.out" 2>"$T_DIR/hub.log" &
HUB_PID=$!
T_PIDS+=("$HUB_PID")
t_wait 20 grep -q '^hub listening on ' "$T_DIR/serve.out" || { t_fail "hub serve prints its URL"; t_finish; exit 1; }
URL=$(sed -n 's/^hub listening on //p' "$T_DIR/serve.out")
CA=$HUB_DATA/ca/ca.crt

# c [curl args...]: body, then the status on the last line. h: headers only.
c() { curl -sS --cacert "$CA" -w '\n%{http_code}' "$@"; }
h() { curl -sS --cacert "$CA" -D - -o /dev/null "$@"; }
status() { tail -n1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }
code() { body "$1" | jget '["code"]'; }
hdr() { grep -i "^$1:" | head -1 | cut -d: -f2- | sed 's/^ //; s/\r$//'; }
login() { c -c jar -X POST -H 'Content-Type: application/json' --data-binary "$1" "$URL/v1/console/login"; }
# seconds a command takes, as a decimal; its output goes to timed.out
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >timed.out; t1=$(date +%s.%N); python3 -c "print($t1 - $t0)"; }
gt() { python3 -c "import sys; sys.exit(0 if $1 > $2 else 1)"; }

CSP="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

# --- the embedded files
H=$(h "$URL/")
t_check "GET / 200" grep -q '^HTTP/1.1 200' <<<"$H"
t_check "... is index.html" [ "$(hdr Content-Type <<<"$H")" = "text/html; charset=utf-8" ]
t_check "... with the CSP of §10" [ "$(hdr Content-Security-Policy <<<"$H")" = "$CSP" ]
t_check "... X-Frame-Options DENY" [ "$(hdr X-Frame-Options <<<"$H")" = DENY ]
t_check "... Referrer-Policy no-referrer" [ "$(hdr Referrer-Policy <<<"$H")" = no-referrer ]
t_check "... nosniff" [ "$(hdr X-Content-Type-Options <<<"$H")" = nosniff ]
t_check "... Cache-Control no-cache" [ "$(hdr Cache-Control <<<"$H")" = no-cache ]
curl -sS --cacert "$CA" -o index.got "$URL/"
t_check "GET / serves web/console/index.html byte for byte" cmp -s index.got "$HERE/../../web/console/index.html"
curl -sS --cacert "$CA" -o index2.got "$URL/index.html"
t_check "GET /index.html is the same file" cmp -s index.got index2.got
ETAG=$(hdr ETag <<<"$H")
r=$(c -H "If-None-Match: $ETAG" "$URL/")
t_check "a matching If-None-Match: 304" [ "$(status "$r")" = 304 ]
# another asset: whatever else web/console holds (the UI is built alongside)
ASSET=$(cd "$HERE/../../web/console" && find . -type f ! -name index.html ! -name README.md | sed 's|^\.||' | sort | head -1)
if [ -n "$ASSET" ]; then
  H=$(h "$URL$ASSET")
  t_check "GET $ASSET 200 with the CSP" bash -c "grep -q '^HTTP/1.1 200' <<<\"\$1\" && grep -qi '^Content-Security-Policy: default-src' <<<\"\$1\"" _ "$H"
  curl -sS --cacert "$CA" -o asset.got "$URL$ASSET"
  t_check "... byte for byte" cmp -s asset.got "$HERE/../../web/console$ASSET"
  case "$ASSET" in
    *.js) t_check "... as JavaScript" [ "$(hdr Content-Type <<<"$H")" = "text/javascript; charset=utf-8" ] ;;
    *.css) t_check "... as CSS" [ "$(hdr Content-Type <<<"$H")" = "text/css; charset=utf-8" ] ;;
  esac
else
  t_ok "no asset besides index.html yet (skipped)"
fi
r=$(c "$URL/no-such-file.js")
t_check "unknown file: 404 JSON not_found" [ "$(status "$r")" = 404 ] && [ "$(code "$r")" = not_found ]
r=$(c --path-as-is "$URL/../../etc/passwd")
t_check "dot-dot path: 404" [ "$(status "$r")" = 404 ]
r=$(c --path-as-is "$URL/%2e%2e/hub.json")
t_check "encoded dot-dot path: 404" [ "$(status "$r")" = 404 ]
r=$(c -X POST "$URL/index.html")
t_check "POST to a file: 405" [ "$(status "$r")" = 405 ]
# "/" must not swallow the API
r=$(c "$URL/healthz")
t_check "/healthz still answers" [ "$(body "$r" | jget '["status"]')" = ok ]
r=$(c "$URL/metrics")
t_check "/metrics still answers" grep -q certsync_hub_requests_total <<<"$r"
r=$(c -X POST "$URL/metrics")
t_check "POST /metrics: 405, not the console's 404" [ "$(status "$r")" = 405 ]
r=$(c "$URL/v1/ca")
t_check "/v1/ca still answers" grep -q 'BEGIN CERTIFICATE' <<<"$r"
r=$(c "$URL/v1/admin/devices")
t_check "/v1/admin without credentials: 403 denied" [ "$(status "$r")" = 403 ] && [ "$(code "$r")" = denied ]
r=$(c "$URL/v1/nothing")
t_check "unknown /v1 path: 404 JSON" [ "$(status "$r")" = 404 ] && [ "$(code "$r")" = not_found ]

# --- login
r=$(c -X GET "$URL/v1/console/login")
t_check "GET login: 405" [ "$(status "$r")" = 405 ]
r=$(login '{"user": "admin"}')
t_check "login without password: 400" [ "$(status "$r")" = 400 ]
r=$(login 'not json')
t_check "login with garbage: 400 malformed" [ "$(code "$r")" = malformed ]
H=$(h -X POST -d '{"user":"admin","password":"wrong password 1"}' "$URL/v1/console/login")
t_check "login answers carry the CSP" [ "$(hdr Content-Security-Policy <<<"$H")" = "$CSP" ]
r=$(login '{"user":"x\nts=0 level=error event=forged","password":"whatever password"}')
t_check "a user name with a line break: 401 auth" [ "$(code "$r")" = auth ]
t_check "... and it cannot forge a log line" bash -c "! grep -q 'event=forged' '$T_DIR/hub.log'"
sleep 0.3 # let that failure's delay run out; the series below starts afresh
r=$(login "{\"user\":\"admin\",\"password\":\"$PW\"}") # a success resets the series
T1=$(timed login '{"user":"admin","password":"wrong password 2"}')
r=$(cat timed.out)
t_check "wrong password: 401 auth" [ "$(status "$r")" = 401 ] && [ "$(code "$r")" = auth ]
T2=$(timed login '{"user":"admin","password":"wrong password 3"}')
T3=$(timed login '{"user":"admin","password":"wrong password 4"}')
t_check "the first failure waits at least 0.25 s ($T1)" gt "$T1" 0.24
t_check "the second failure takes longer ($T2 > $T1)" gt "$T2" "$T1"
t_check "the third takes longer still, at least 1 s ($T3)" gt "$T3" 0.99
r=$(login "{\"user\":\"admin\",\"password\":\"$PW\"}")
t_check "the right password after failures: 200 (the series ends)" [ "$(status "$r")" = 200 ]
T4=$(timed login '{"user":"nobody","password":"whatever password"}')
r=$(cat timed.out)
t_check "unknown user: the same 401 auth" [ "$(status "$r")" = 401 ] && [ "$(code "$r")" = auth ]
t_check "... after the first delay again ($T4)" gt "$T4" 0.24
# while a failure's delay runs, further guesses from the address are refused
# unchecked (the delay of failure 2 is 0.5 s)
login '{"user":"admin","password":"wrong password 5"}' >/dev/null &
BG=$!
sleep 0.2
r=$(login "{\"user\":\"admin\",\"password\":\"$PW\"}")
t_check "the right password during a pending delay: still 401" [ "$(status "$r")" = 401 ]
wait "$BG"
t_check "the hub answered others meanwhile" [ "$(status "$(c "$URL/healthz")")" = 200 ]

r=$(login "{\"user\":\"admin\",\"password\":\"$PW\"}")
t_check "right password: 200" [ "$(status "$r")" = 200 ]
t_check "... user admin" [ "$(body "$r" | jget '["user"]')" = admin ]
CSRF=$(body "$r" | jget '["csrf"]')
t_check "... a CSRF token" [ "${#CSRF}" -ge 32 ]
t_check "... an expiry in the future" [ "$(body "$r" | jget '["expires"]')" -gt "$(date +%s)" ]
t_check "... the session cookie in the jar" grep -q 'cs_session' jar
H=$(h -X POST -d "{\"user\":\"admin\",\"password\":\"$PW\"}" "$URL/v1/console/login")
COOKIE=$(hdr Set-Cookie <<<"$H")
t_check "cookie is Path=/; Secure; HttpOnly; SameSite=Strict" \
  grep -qE '^cs_session=[0-9a-f]{64}; Path=/; Secure; HttpOnly; SameSite=Strict$' <<<"$COOKIE"
t_check "no token or password in the log" bash -c "! grep -qF '$PW' '$T_DIR/hub.log' && ! grep -qF '${COOKIE:11:64}' '$T_DIR/hub.log' && ! grep -qF '$CSRF' '$T_DIR/hub.log'"

r=$(c -b jar "$URL/v1/console/session")
t_check "GET session: 200 with the same CSRF token" [ "$(body "$r" | jget '["csrf"]')" = "$CSRF" ]

# --- the console's access to /v1/admin
r=$(c -b jar "$URL/v1/admin/devices")
t_check "GET /v1/admin/devices with the cookie: 200" [ "$(status "$r")" = 200 ]
t_check "... a device list" [ "$(body "$r" | jget '["devices"]')" = "[]" ]
H=$(h -b jar "$URL/v1/admin/devices")
t_check "... with the console's headers" [ "$(hdr X-Frame-Options <<<"$H")" = DENY ]
r=$(c -b jar -X POST -d '{"uses": 1}' "$URL/v1/admin/tokens")
t_check "POST tokens with the cookie but no X-CSRF-Token: 403 csrf" [ "$(status "$r")" = 403 ] && [ "$(code "$r")" = csrf ]
r=$(c -b jar -X POST -H "X-CSRF-Token: 0000${CSRF:4}" -d '{"uses": 1}' "$URL/v1/admin/tokens")
t_check "... a wrong X-CSRF-Token: 403 csrf" [ "$(code "$r")" = csrf ]
r=$(c -b jar -X POST -H "X-CSRF-Token: $CSRF" -d '{"uses": 1}' "$URL/v1/admin/tokens")
t_check "... with X-CSRF-Token: 201" [ "$(status "$r")" = 201 ]
t_check "... a token" [ "$(body "$r" | jget '["token"][:5]')" = cse1: ]
r=$(c -b 'cs_session=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' "$URL/v1/admin/devices")
t_check "an unknown session: 401 session" [ "$(status "$r")" = 401 ] && [ "$(code "$r")" = session ]
r=$(c --cert "$HUB_DATA/admin/admin.crt" --key "$HUB_DATA/admin/admin.key" -b 'cs_session=00' \
  -X POST -d '{}' "$URL/v1/admin/tokens")
t_check "the admin certificate needs no CSRF header, cookie or not" [ "$(status "$r")" = 201 ]

# a request moves the idle end; silence longer than the idle timeout ends it
E1=$(body "$(c -b jar "$URL/v1/console/session")" | jget '["expires"]')
sleep 1.5
E2=$(body "$(c -b jar "$URL/v1/console/session")" | jget '["expires"]')
t_check "a request refreshes the session ($E2 > $E1)" [ "$E2" -gt "$E1" ]
sleep $((IDLE + 1)).5
r=$(c -b jar "$URL/v1/admin/devices")
t_check "after the idle timeout: 401 session" [ "$(status "$r")" = 401 ] && [ "$(code "$r")" = session ]
r=$(c -b jar "$URL/v1/console/session")
t_check "... and GET session: 401 auth" [ "$(status "$r")" = 401 ] && [ "$(code "$r")" = auth ]

# --- logout
r=$(login "{\"user\":\"admin\",\"password\":\"$PW\"}")
CSRF=$(body "$r" | jget '["csrf"]')
r=$(c -b jar -X POST "$URL/v1/console/logout")
t_check "logout without the CSRF header: 403 csrf" [ "$(code "$r")" = csrf ]
H=$(curl -sS --cacert "$CA" -D - -o /dev/null -b jar -X POST -H "X-CSRF-Token: $CSRF" "$URL/v1/console/logout")
t_check "logout: 200" grep -q '^HTTP/1.1 200' <<<"$H"
t_check "... clears the cookie" grep -qi '^Set-Cookie: cs_session=; Max-Age=0' <<<"$H"
r=$(c -b jar "$URL/v1/admin/devices")
t_check "after logout the cookie is refused: 401 session" [ "$(code "$r")" = session ]

# --- hub admin password
t_check "a password under 12 characters is refused" bash -c "echo short-pw | '$CERTSYNC' hub admin password --data '$HUB_DATA' --password-file - 2>/dev/null; [ \$? = 2 ]"
t_check "without a terminal or a file it refuses" bash -c "'$CERTSYNC' hub admin password --data '$HUB_DATA' </dev/null 2>/dev/null; [ \$? = 2 ]"
r=$(login "{\"user\":\"admin\",\"password\":\"$PW\"}")
NEW='correct horse battery staple'
printf '%s\n' "$NEW" > newpw
t_check "hub admin password --password-file (while the hub runs)" \
  sh -c '"$0" hub admin password --data "$1" --password-file "$2" >/dev/null' "$CERTSYNC" "$HUB_DATA" newpw
t_check "... removes the initial password file" [ ! -e "$PW_FILE" ]
r=$(c -b jar "$URL/v1/admin/devices")
t_check "... ends the sessions" [ "$(code "$r")" = session ]
sleep 0.1
r=$(login "{\"user\":\"admin\",\"password\":\"$PW\"}")
t_check "... the old password is refused" [ "$(status "$r")" = 401 ]
sleep 0.6
r=$(login "{\"user\":\"admin\",\"password\":\"$NEW\"}")
t_check "... the new one works" [ "$(status "$r")" = 200 ]

t_check "the hub still answers" [ "$(status "$(c "$URL/healthz")")" = 200 ]
kill -TERM "$HUB_PID"
t_check "SIGTERM stops the hub cleanly" wait "$HUB_PID"
t_finish
