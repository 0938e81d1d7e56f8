#!/usr/bin/env python3
"""A man in the middle for backup-terminal tests (PROTOCOL.md §12.3): it
holds the terminal's own TLS identity, forwards HTTP/1.1 exchanges to the
terminal, and forges one value of the handshake.

  backup_mitm.py PORT TERMINAL_PORT CERT KEY first|second

  first   alter the hub's signature in the device's hello
  second  alter the MAC of the terminal's second verification information
"""
import json, socket, ssl, sys, threading


def read_message(f):
    """One HTTP message (head lines, body) from a file-like socket."""
    head = []
    while True:
        line = f.readline()
        if not line:
            return None, None
        if line in (b"\r\n", b"\n"):
            if not head:
                continue  # blank lines before a request (a probe's newline)
            break
        head.append(line.decode("latin-1").rstrip("\r\n"))
    n = 0
    for h in head[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v.strip())
    body = f.read(n) if n else b""
    return head, body


def write_message(sock, head, body):
    out = [head[0]]
    for h in head[1:]:
        k = h.partition(":")[0].strip().lower()
        if k not in ("content-length", "expect"):
            out.append(h)
    out.append("Content-Length: %d" % len(body))
    sock.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)


def flip(text):
    """Another value at position 10: '0' and '1' are digits in hex and in
    base64 alike (a letter could be the same hex digit in the other case)."""
    c = text[10]
    return text[:10] + ("0" if c != "0" else "1") + text[11:]


def serve_one(down, port, mode):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    up = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    df, uf = down.makefile("rb"), up.makefile("rb")
    try:
        while True:
            head, body = read_message(df)
            if head is None:
                return
            hello = head[0].startswith("POST /v1/backup/hello ")
            if hello and mode == "first":
                j = json.loads(body)
                j["signature"] = flip(j["signature"])
                body = json.dumps(j).encode()
            write_message(up, head, body)
            rhead, rbody = read_message(uf)
            if rhead is None:
                return
            if hello and mode == "second" and rhead[0].split(" ")[1] == "200":
                j = json.loads(rbody)
                j["mac"] = flip(j["mac"])
                rbody = json.dumps(j).encode()
            write_message(down, rhead, rbody)
    except (OSError, ValueError):
        pass
    finally:
        down.close()
        up.close()


def main():
    port, term, cert, key, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    while True:
        raw, _ = ls.accept()
        try:
            down = ctx.wrap_socket(raw, server_side=True)
        except OSError:
            raw.close()
            continue
        threading.Thread(target=serve_one, args=(down, term, mode), daemon=True).start()


if __name__ == "__main__":
    main()
