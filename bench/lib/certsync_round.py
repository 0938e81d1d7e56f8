#!/usr/bin/env python3
"""One measured certsync round for bench/lib/certsync.bash.

  certsync_round.py CERTSYNC HUB_DATA FOLDER SRC_ID DST_ID TIMEOUT HUB_PID SRC_PID DST_PID

Starts a job with `certsync hub sync` (the clock starts just before), follows
it on one keep-alive mTLS connection with the hub's admin identity (every
50 ms, so polling neither skews short rounds nor loads the hub), and prints one
JSON line: job, state, reason, secs, the hub's blob byte counters (delta of
/metrics: up = received from the source, down = sent to the destination) and
the CPU seconds the hub and the two agents used during the round.
"""
import http.client
import json
import os
import ssl
import subprocess
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK   # utime + stime


class Hub:
    def __init__(self, data):
        with open(os.path.join(data, "hub.json")) as f:
            host, port = json.load(f)["public_address"].rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=os.path.join(data, "ca/ca.crt"))
        ctx.check_hostname = False   # verified against the hub CA; the name is a loopback address
        ctx.load_cert_chain(os.path.join(data, "admin/admin.crt"), os.path.join(data, "admin/admin.key"))
        self.host, self.port, self.ctx, self.conn = host, int(port), ctx, None

    def get(self, path):
        for attempt in (1, 2):   # one reconnect if the hub closed the kept-alive connection
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {r.status}: {body[:200]!r}")
                return body.decode()
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 2:
                    raise

    def counters(self):
        out = {}
        for line in self.get("/metrics").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].startswith("certsync_hub_blob_bytes_"):
                out[parts[0]] = int(float(parts[1]))
        return (out.get("certsync_hub_blob_bytes_received_total", 0),
                out.get("certsync_hub_blob_bytes_sent_total", 0))


def main():
    certsync, data, folder, src, dst = sys.argv[1:6]
    timeout = float(sys.argv[6])
    pids = {"hub": sys.argv[7], "src": sys.argv[8], "dst": sys.argv[9]}
    hub = Hub(data)
    up0, down0 = hub.counters()
    cpu0 = {k: cpu(p) for k, p in pids.items()}
    t0 = time.monotonic()
    p = subprocess.run([certsync, "hub", "sync", "--data", data, "--folder", folder,
                        "--from", src, "--to", dst], capture_output=True, text=True)
    if p.returncode != 0:
        print(json.dumps({"state": "failed", "reason": f"hub sync: {p.stderr.strip()}"}))
        return 1
    job = int(p.stdout.split()[0])
    state, reason, doc = "timeout", f"no result after {timeout:.0f} s", {}
    while time.monotonic() - t0 < timeout:
        doc = json.loads(hub.get(f"/v1/admin/jobs/{job}"))
        if doc["state"] in ("done", "failed"):
            state = doc["state"]
            bad = [d for d in doc.get("destinations", []) if d.get("state") != "applied"]
            reason = doc.get("reason") or "; ".join(f"{d.get('name')}: {d.get('state')} {d.get('reason')}"
                                                   for d in bad)
            if state == "done" and bad:
                state = "failed"
            break
        time.sleep(0.05)
    t1 = time.monotonic()
    cpu1 = {k: cpu(p) for k, p in pids.items()}
    up1, down1 = hub.counters()
    print(json.dumps({"job": job, "state": state, "reason": reason, "secs": round(t1 - t0, 6),
                      "up": up1 - up0, "down": down1 - down0,
                      "cpu": {k: round(cpu1[k] - cpu0[k], 2) for k in pids}}))
    return 0 if state == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
