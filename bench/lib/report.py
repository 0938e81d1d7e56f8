#!/usr/bin/env python3
"""Turn bench/run's results.tsv (dataset, tool, key, value) into the tables of
bench/results/latest.txt: one table per dataset, then the ratios of certsync
to each other tool and certsync's CPU cost."""
import sys
from collections import defaultdict

TOOLS = [("certsync", "certsync"), ("rsync", "rsync+ssh"), ("syncthing", "syncthing")]
MB, GiB = 1e6, float(1 << 30)


def human_bytes(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def ratio_words(r, more, less):
    return f"{r:.2f}x ({more})" if r > 1.005 else f"{r:.2f}x ({less})" if r < 0.995 else f"{r:.2f}x (same)"


def main(path):
    """Print the report; return 1 if the tools' trees disagree with each other."""
    data = defaultdict(lambda: defaultdict(dict))
    order = []
    with open(path) as f:
        for line in f:
            ds, tool, key, value = line.rstrip("\n").split("\t", 3)
            if ds not in order:
                order.append(ds)
            data[ds][tool][key] = value
    out = []
    for ds in order:
        d = data[ds]
        size = int(d["dataset"]["bytes"])
        out.append(f"{ds}: {d['dataset']['files']} files, {human_bytes(size)} ({size} bytes)")
        head = ("tool", "initial", "MB/s", "init moved", "incremental", "incr moved",
                "no-change", "nochg moved")
        rows = [head]
        notes = []
        for key, label in TOOLS:
            r = d.get(key)
            if r is None:
                continue
            if r.get("status") != "ok":
                status = r.get("status", "failed: no result")
                if status.startswith("failed"):
                    status = "FAILED" + status[len("failed"):]
                rows.append((label, status))
                continue
            rows.append((label,
                         f"{float(r['initial_s']):.2f} s",
                         f"{size / MB / max(float(r['initial_s']), 1e-6):.1f}",
                         human_bytes(r["initial_bytes"]),
                         f"{float(r['incremental_s']):.2f} s",
                         human_bytes(r["incremental_bytes"]),
                         f"{float(r['nochange_s']):.2f} s",
                         human_bytes(r["nochange_bytes"])))
        widths = [max(len(row[i]) for row in rows if len(row) > i and len(row) == len(head))
                  for i in range(len(head))]
        for row in rows:
            if len(row) == len(head):
                out.append("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                            for i, c in enumerate(row)).rstrip())
            else:
                out.append("  " + row[0].ljust(widths[0]) + "  " + row[1])
        c = d.get("certsync", {})
        if c.get("status") == "ok":
            for key, label in TOOLS[1:]:
                o = d.get(key, {})
                if o.get("status") != "ok":
                    continue
                t = lambda k: float(c[k]) / max(float(o[k]), 1e-6)
                b_in = float(c["incremental_bytes"]) / max(float(o["incremental_bytes"]), 1.0)
                notes.append(f"certsync vs {label}: initial time {ratio_words(t('initial_s'), 'slower', 'faster')}, "
                             f"incremental time {ratio_words(t('incremental_s'), 'slower', 'faster')}, "
                             f"no-change time {ratio_words(t('nochange_s'), 'slower', 'faster')}, "
                             f"incremental bytes {ratio_words(b_in, 'more', 'less')}")
            if "hub_cpu_initial_s" in c:
                gib = size / GiB
                notes.append(f"certsync hub CPU: {float(c['hub_cpu_initial_s']):.2f} s in the initial round = "
                             f"{float(c['hub_cpu_initial_s']) / gib:.2f} s/GiB; incremental "
                             f"{float(c['hub_cpu_incremental_s']):.2f} s, no-change {float(c['hub_cpu_nochange_s']):.2f} s")
                notes.append(f"certsync agents CPU in the initial round: source {float(c['src_cpu_initial_s']):.2f} s "
                             f"({float(c['src_cpu_initial_s']) / gib:.2f} s/GiB), destination "
                             f"{float(c['dst_cpu_initial_s']):.2f} s ({float(c['dst_cpu_initial_s']) / gib:.2f} s/GiB)")
            if "incremental_up" in c:
                notes.append(f"certsync bytes through the hub, incremental round: {human_bytes(c['incremental_up'])} "
                             f"uploaded by the source + {human_bytes(c['incremental_down'])} downloaded by the destination")
        for rnd in ("initial", "incremental", "nochange"):
            digests = {d[k][f"{rnd}_digest"] for k, _ in TOOLS if f"{rnd}_digest" in d.get(k, {})}
            if len(digests) > 1:
                notes.append(f"HARNESS ERROR: the tools' trees differ after the {rnd} round "
                             "(each matched its own source, so the sources diverged)")
        out.extend("  " + n for n in notes)
        out.append("")
    out.append("times are wall clock; MB/s = dataset bytes / initial time, MB = 10^6 bytes; "
               "'moved' = bytes over the wire as each tool counts them (see bench/README.md)")
    print("\n".join(out))
    return 1 if any("HARNESS ERROR" in line for line in out) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
