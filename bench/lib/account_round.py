#!/usr/bin/env python3
"""One measured account-sync round for bench/lib/account.bash.

  account_round.py CERTSYNC FOLDER DEV_A DEV_B HUB_URL HUB_PID TIMEOUT

Runs `certsync sync run FOLDER --json` on device A (it uploads what changed in
its folder), then on device B (it downloads it), one after the other, and
prints one JSON line:

  state, reason  "done", or "failed" and why
  secs           A's wall time + B's (each from just before its command
                 starts until it exits)
  a, b           each device's run: its --json counters (pulled, pushed,
                 conflicts, chunks_up, bytes_up, chunks_down, bytes_down,
                 requests, rounds, version, secs), plus "wall" (the wall time
                 measured here) and "cpu" (the command's user + system CPU
                 seconds, from getrusage of the finished child)
  hub            the hub process over the whole round: "cpu" (utime + stime
                 from /proc/PID/stat), and the deltas of its /metrics
                 counters "requests" (certsync_hub_account_requests_total:
                 sealed calls that passed authentication), "received" and
                 "sent" (certsync_hub_account_bytes_*_total: record payload
                 bytes)

TIMEOUT (seconds) bounds the whole round.
"""
import json
import os
import resource
import ssl
import subprocess
import sys
import time
import urllib.request

TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK   # utime + stime


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def metrics(url):
    """The hub's account counters (no authentication needed for /metrics)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # loopback, our own hub; only counters are read
    with urllib.request.urlopen(url + "/metrics", context=ctx, timeout=60) as r:
        text = r.read().decode()
    out = {"requests": 0, "received": 0, "sent": 0}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or line.startswith("#"):
            continue
        name, value = parts[0], int(float(parts[1]))
        if name == "certsync_hub_account_requests_total":
            out["requests"] = value
        elif name == "certsync_hub_account_bytes_received_total":
            out["received"] = value
        elif name == "certsync_hub_account_bytes_sent_total":
            out["sent"] = value
    return out


def run_device(certsync, folder, dev, deadline):
    """One `sync run` on a device: (counters dict, error or None)."""
    c0 = children_cpu()
    t0 = time.monotonic()
    try:
        p = subprocess.run([certsync, "sync", "run", folder, "--data", dev, "--json"],
                           capture_output=True, text=True, timeout=max(1.0, deadline - t0))
    except subprocess.TimeoutExpired:
        return {"wall": round(time.monotonic() - t0, 6)}, "timed out"
    t1 = time.monotonic()
    doc = {}
    try:
        doc = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pass
    doc["wall"] = round(t1 - t0, 6)
    doc["cpu"] = round(children_cpu() - c0, 3)
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        return doc, f"exit {p.returncode}: {err[-1] if err else 'no message'}"
    if "requests" not in doc:
        return doc, f"no JSON counters in its output: {p.stdout.strip()[:200]!r}"
    return doc, None


def main():
    certsync, folder, dev_a, dev_b, url, hub_pid = sys.argv[1:7]
    timeout = float(sys.argv[7])
    m0, h0 = metrics(url), cpu(hub_pid)
    deadline = time.monotonic() + timeout
    out = {"state": "done", "reason": ""}
    for key, dev in (("a", dev_a), ("b", dev_b)):
        doc, err = run_device(certsync, folder, dev, deadline)
        out[key] = doc
        if err is not None:
            out["state"], out["reason"] = "failed", f"device {key.upper()}: {err}"
            break
    h1, m1 = cpu(hub_pid), metrics(url)
    out["secs"] = round(sum(out[k]["wall"] for k in ("a", "b") if k in out), 6)
    out["hub"] = {"cpu": round(h1 - h0, 2), **{k: m1[k] - m0[k] for k in m0}}
    print(json.dumps(out))
    return 0 if out["state"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
