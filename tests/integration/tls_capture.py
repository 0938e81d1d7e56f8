#!/usr/bin/env python3
"""A TLS-terminating proxy that records what it sees, and helpers that take
recorded account-sync requests apart (PROTOCOL.md §11.4).

  tls_capture.py serve LISTEN_PORT UPSTREAM_PORT CERT KEY OUTDIR
      accept TLS on 127.0.0.1:LISTEN_PORT with CERT/KEY, forward every
      connection over TLS to 127.0.0.1:UPSTREAM_PORT, and append the
      plaintext of each direction to OUTDIR/<n>.up and OUTDIR/<n>.down
  tls_capture.py bodies OUTDIR PATH OUT_PREFIX
      write the bodies of the recorded requests to PATH as OUT_PREFIX.<i>
  tls_capture.py retoken BODY TOKEN OUT      replace a request frame's token
  tls_capture.py tamper BODY OUT             flip one bit of the ciphertext
  tls_capture.py rekid TOKEN                 print TOKEN with another key id
"""
import base64, os, select, socket, ssl, struct, sys, threading


def relay(down, up, log_up, log_down):
    """Copy both directions in one thread: an SSL socket must not be read
    and written by two threads at once."""
    pairs = {down: (up, log_up), up: (down, log_down)}
    try:
        while True:
            ready = [s for s in pairs if s.pending()]
            if not ready:
                ready, _, _ = select.select(list(pairs), [], [], 120)
                if not ready:
                    return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                dst, log = pairs[s]
                log.write(data)
                log.flush()
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in pairs:
            try:
                s.close()
            except OSError:
                pass


def serve(port, upstream, cert, key, outdir):
    os.makedirs(outdir, exist_ok=True)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(64)
    n = 0
    while True:
        raw, _ = lsock.accept()
        try:
            down = server_ctx.wrap_socket(raw, server_side=True)
            up = client_ctx.wrap_socket(socket.create_connection(("127.0.0.1", upstream)))
        except OSError:
            raw.close()
            continue
        n += 1
        lu = open(os.path.join(outdir, "%d.up" % n), "ab")
        ld = open(os.path.join(outdir, "%d.down" % n), "ab")
        threading.Thread(target=relay, args=(down, up, lu, ld), daemon=True).start()


def requests(stream):
    """Split a recorded client stream into (request line, headers, body)."""
    out, i = [], 0
    while i < len(stream):
        end = stream.find(b"\r\n\r\n", i)
        if end < 0:
            break
        head = stream[i:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((head[0], headers, stream[end + 4:end + 4 + n]))
        i = end + 4 + n
    return out


def bodies(outdir, path, prefix):
    k = 0
    for name in sorted(f for f in os.listdir(outdir) if f.endswith(".up")):
        with open(os.path.join(outdir, name), "rb") as f:
            for line, _, body in requests(f.read()):
                if line.split(" ")[1] == path:
                    with open("%s.%d" % (prefix, k), "wb") as o:
                        o.write(body)
                    k += 1
    print(k)


def retoken(body_path, token, out):
    b = open(body_path, "rb").read()
    assert b[:4] == b"CSQ1"
    (tl,) = struct.unpack(">H", b[4:6])
    t = token.encode()
    open(out, "wb").write(b"CSQ1" + struct.pack(">H", len(t)) + t + b[6 + tl:])


def tamper(body_path, out):
    b = bytearray(open(body_path, "rb").read())
    b[-20] ^= 1
    open(out, "wb").write(bytes(b))


def rekid(token):
    prefix, body = token[:5], token[5:]
    raw = bytearray(base64.b64decode(body))
    raw[0:4] = struct.pack(">I", 0x7FFF0001)
    print(prefix + base64.b64encode(bytes(raw)).decode())


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        serve(int(args[0]), int(args[1]), args[2], args[3], args[4])
    elif cmd == "bodies":
        bodies(*args)
    elif cmd == "retoken":
        retoken(*args)
    elif cmd == "tamper":
        tamper(*args)
    elif cmd == "rekid":
        rekid(args[0])
    else:
        sys.exit(__doc__)
