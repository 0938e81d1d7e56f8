#!/usr/bin/env python3
"""One measured backup operation for bench/lib/backup.bash.

  backup_round.py TIMEOUT [--pid NAME=PID ...] -- COMMAND [ARG ...]

Runs COMMAND (a `certsync backup push/restore` or a `restic` command), with
its standard output captured, and prints one JSON line:

  rc       the command's exit status (-1: killed after TIMEOUT seconds)
  wall     seconds from just before the command starts until it exits
  cpu      the command's user + system CPU seconds (getrusage of the
           finished child, every thread)
  pids     for each --pid NAME=PID (a daemon the command talks to: the
           backup terminal, the hub): its utime + stime delta over the
           command, from /proc/PID/stat
  last     the last line of its standard output (the --json summary)
  err      the last line of its standard error (when rc is not 0)

Exits 0 when the command did, 1 otherwise.
"""
import json
import os
import resource
import subprocess
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TCK   # utime + stime
    except OSError:
        return float("nan")


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main():
    args = sys.argv[1:]
    if "--" not in args or not args:
        sys.exit(__doc__)
    sep = args.index("--")
    opts, cmd = args[:sep], args[sep + 1:]
    timeout = float(opts[0])
    pids = {}
    i = 1
    while i < len(opts):
        if opts[i] != "--pid" or i + 1 >= len(opts):
            sys.exit(f"backup_round.py: unexpected {opts[i]!r}")
        name, pid = opts[i + 1].split("=", 1)
        pids[name] = int(pid)
        i += 2
    p0 = {k: proc_cpu(v) for k, v in pids.items()}
    c0 = children_cpu()
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc = -1
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = f"timed out after {timeout:.0f} s"
    t1 = time.monotonic()
    c1 = children_cpu()
    p1 = {k: proc_cpu(v) for k, v in pids.items()}
    lines = [ln for ln in out.strip().splitlines() if ln.strip()]
    errs = [ln for ln in err.strip().splitlines() if ln.strip()]
    doc = {"rc": rc, "wall": round(t1 - t0, 6), "cpu": round(c1 - c0, 3),
           "pids": {k: round(p1[k] - p0[k], 2) for k in pids},
           "last": lines[-1] if lines else "",
           "err": errs[-1] if errs and rc != 0 else ""}
    print(json.dumps(doc))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
