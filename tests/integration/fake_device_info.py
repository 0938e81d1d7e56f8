#!/usr/bin/env python3
"""A stand-in for 'certsync device listen' (PROTOCOL.md §6), used by
hub_api.sh to test registration way 3 without the device side.

usage: fake_device_info.py KEY CSR NAME CERT PORTFILE
Serves HTTPS with the self-signed CERT; writes its port to PORTFILE, the
device ID to PORTFILE.id and a delivered certificate to PORTFILE.cert."""
import base64, hashlib, http.server, json, ssl, subprocess, sys, urllib.parse

key, csr, name, cert, port_file = sys.argv[1:6]
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

def luhn32(s):
    total, dbl = 0, True
    for ch in reversed(s):
        v = B32.index(ch) * (2 if dbl else 1)
        total += v // 32 + v % 32
        dbl = not dbl
    return B32[(32 - total % 32) % 32]

def device_id():
    spki = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                          capture_output=True, check=True).stdout
    b = base64.b32encode(hashlib.sha256(spki).digest()).decode().rstrip("=")
    raw = "".join(b[i:i + 13] + luhn32(b[i:i + 13]) for i in range(0, 52, 13))
    return "-".join(raw[i:i + 7] for i in range(0, 56, 7))

DEVID = device_id()

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        nonce = bytes.fromhex(q.get("nonce", [""])[0])
        pem = open(csr).read()
        msg = b"certsync-device-info-v1" + nonce + hashlib.sha256(pem.encode()).digest()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=msg,
                             capture_output=True, check=True).stdout
        self.reply(200, {"name": name, "device_id": DEVID, "csr": pem,
                         "signature": base64.b64encode(sig).decode()})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with open(port_file + ".cert", "w") as f:
            f.write(body["certificate"])
        self.reply(200, {})

srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".id", "w") as f:
    f.write(DEVID)
with open(port_file, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
