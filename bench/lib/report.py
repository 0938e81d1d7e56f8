#!/usr/bin/env python3
"""Turn bench/run's results.tsv (dataset, tool, key, value) into the tables of
bench/results/latest.txt: one table per dataset, then the ratios of certsync
to each other tool and certsync's CPU cost; then the account sync section
(one table per dataset: its three rounds, A's upload and B's download); then
the backup section (certsync backup to a paired terminal next to restic with a
local repository: backup, second backup, restore)."""
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
    relay = [ds for ds in order if any(k in data[ds] for k, _ in TOOLS)]
    for ds in relay:
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
            digests = {d[k][f"{rnd}_digest"] for k in [k for k, _ in TOOLS] + ["account"]
                       if f"{rnd}_digest" in d.get(k, {})}
            if len(digests) > 1:
                notes.append(f"HARNESS ERROR: the tools' trees differ after the {rnd} round "
                             "(each matched its own source, so the sources diverged)")
        out.extend("  " + n for n in notes)
        out.append("")
    if relay:
        out.append("times are wall clock; MB/s = dataset bytes / initial time, MB = 10^6 bytes; "
                   "'moved' = bytes over the wire as each tool counts them (see bench/README.md)")
    accounts = [ds for ds in order if "account" in data[ds]]
    if accounts:
        if relay:
            out.append("")
        out.extend(account_section(data, accounts, relay))
    backups = [ds for ds in order if any(k in data[ds] for k, _ in BACKUP_TOOLS)]
    if backups:
        if relay or accounts:
            out.append("")
        out.extend(backup_section(data, backups, set(relay) | set(accounts)))
    if "wallet" in data and "wallet" in data["wallet"]:
        if out:
            out.append("")
        out.extend(wallet_section(data["wallet"]["wallet"]))
    if "sigd" in data and "sigd" in data["sigd"]:
        if out:
            out.append("")
        out.extend(sigd_section(data["sigd"]["sigd"]))
    print("\n".join(out))
    return 1 if any("HARNESS ERROR" in line for line in out) else 0


def table(rows):
    """Lines of a table: first column left-aligned, the others right-aligned;
    a row of two cells (label, message) is printed as is."""
    full = [r for r in rows if len(r) == len(rows[0])]
    widths = [max(len(r[i]) for r in full) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        if len(row) == len(rows[0]):
            lines.append("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                                          for i, c in enumerate(row)).rstrip())
        else:
            lines.append("  " + row[0].ljust(widths[0]) + "  " + row[1])
    return lines


def account_section(data, datasets, relay):
    """The account sync tables: per dataset, one row per round."""
    out = ["account sync: device A uploads (sync run), then device B downloads (sync run)"]
    for ds in datasets:
        d, r = data[ds], data[ds]["account"]
        size = int(d["dataset"]["bytes"])
        gib = size / GiB
        if ds not in relay:   # its size is not printed above
            out.append(f"{ds}: {d['dataset']['files']} files, {human_bytes(size)} ({size} bytes)")
        else:
            out.append(f"{ds}:")
        rows = [("round", "total", "A upload", "B download", "MB/s", "moved", "requests", "hub CPU")]
        for rnd, label in (("initial", "initial"), ("incremental", "incremental"), ("nochange", "no-change")):
            if f"{rnd}_s" not in r or f"{rnd}_up_s" not in r:
                continue
            secs = float(r[f"{rnd}_s"])
            rows.append((label, f"{secs:.2f} s", f"{float(r[f'{rnd}_up_s']):.2f} s",
                         f"{float(r[f'{rnd}_down_s']):.2f} s",
                         f"{size / MB / max(secs, 1e-6):.1f}" if rnd == "initial" else "-",
                         human_bytes(r[f"{rnd}_bytes"]), r[f"{rnd}_requests"],
                         f"{float(r[f'{rnd}_hub_cpu_s']):.2f} s"))
        if r.get("status") != "ok":
            status = r.get("status", "failed: no result")
            if status.startswith("failed"):
                status = "FAILED" + status[len("failed"):]
            rows.append(("status", status))
        out.extend(table(rows))
        if "initial_hub_cpu_s" in r:
            hub = float(r["initial_hub_cpu_s"])
            out.append(f"  hub CPU per synced GiB (initial round): {hub / gib:.2f} s/GiB "
                       f"({hub:.2f} s for {human_bytes(size)})")
            a, b = float(r["initial_a_cpu_s"]), float(r["initial_b_cpu_s"])
            out.append(f"  device CPU in the initial round: A (upload) {a:.2f} s ({a / gib:.2f} s/GiB), "
                       f"B (download) {b:.2f} s ({b / gib:.2f} s/GiB)")
        mism = [f"{rnd} {r[f'{rnd}_requests']} by the devices, {r[f'{rnd}_hub_requests']} by the hub"
                for rnd in ("initial", "incremental", "nochange")
                if f"{rnd}_hub_requests" in r and r[f"{rnd}_hub_requests"] != r[f"{rnd}_requests"]]
        if mism:
            out.append("  requests counted differently: " + "; ".join(mism))
        if "incremental_a_bytes_up" in r:
            out.append(f"  incremental round: A uploaded {human_bytes(r['incremental_a_bytes_up'])}, "
                       f"B downloaded {human_bytes(r['incremental_b_bytes_down'])}")
        out.append("")
    out.append("times are wall clock, each `sync run` from its start to its exit (scan included); "
               "MB/s = dataset bytes / initial total time; 'moved' = bytes_up + bytes_down of both "
               "devices' --json; requests = both devices' count; hub CPU = utime + stime of the hub "
               "process over the round (see bench/README.md)")
    return out


BACKUP_TOOLS = [("backup-certsync", "certsync"), ("backup-restic", "restic")]
BACKUP_OPS = [("backup", "backup"), ("backup2", "2nd backup"), ("restore", "restore")]


def status_text(r):
    status = r.get("status", "failed: no result")
    return "FAILED" + status[len("failed"):] if status.startswith("failed") else status


def backup_section(data, datasets, sized):
    """The backup table: per dataset, one row per tool (certsync, restic)."""
    out = ["backup: certsync backup push/restore to a paired terminal vs restic with a local repository"]
    for ds in datasets:
        d = data[ds]
        size = int(d["dataset"]["bytes"])
        gib = size / GiB
        if ds not in sized:   # its size is not printed above
            out.append(f"{ds}: {d['dataset']['files']} files, {human_bytes(size)} ({size} bytes)")
        else:
            out.append(f"{ds}:")
        rows = [("tool", "backup", "MB/s", "sent", "2nd backup", "MB/s", "sent", "restore", "MB/s",
                 "stored")]
        for key, label in BACKUP_TOOLS:
            r = d.get(key)
            if r is None:
                continue
            row = [label]
            for op, _ in BACKUP_OPS:
                if f"{op}_s" not in r:
                    row += ["-", "-"] + (["-"] if op != "restore" else [])
                    continue
                secs = float(r[f"{op}_s"])
                row += [f"{secs:.2f} s", f"{size / MB / max(secs, 1e-6):.1f}"]
                if op != "restore":
                    row.append(human_bytes(r[f"{op}_sent"]))
            row.append(human_bytes(r["store_bytes"]) if "store_bytes" in r else "-")
            if r.get("status") == "ok":
                rows.append(tuple(row))
            elif any(c != "-" for c in row[1:]):   # what was measured, then why it stopped
                rows.append(tuple(row))
                rows.append(("", status_text(r)))
            else:
                rows.append((label, status_text(r)))
        out.extend(table(rows))
        c, o = d.get("backup-certsync", {}), d.get("backup-restic", {})
        if c.get("status") == "ok" and o.get("status") == "ok":
            parts = [f"{lbl} time {ratio_words(float(c[f'{op}_s']) / max(float(o[f'{op}_s']), 1e-6), 'slower', 'faster')}"
                     for op, lbl in BACKUP_OPS]
            sent = float(c["backup_sent"]) / max(float(o["backup_sent"]), 1.0)
            parts.append(f"backup bytes sent {ratio_words(sent, 'more', 'less')}")
            out.append("  certsync vs restic: " + ", ".join(parts))
        if "backup_terminal_cpu_s" in c:
            f = lambda k: float(c.get(k, "nan"))
            out.append(f"  certsync CPU, backup: device {f('backup_cpu_s'):.2f} s ({f('backup_cpu_s') / gib:.2f} s/GiB), "
                       f"terminal {f('backup_terminal_cpu_s'):.2f} s ({f('backup_terminal_cpu_s') / gib:.2f} s/GiB), "
                       f"hub {f('backup_hub_cpu_s'):.2f} s; 2nd backup: device {f('backup2_cpu_s'):.2f} s, "
                       f"terminal {f('backup2_terminal_cpu_s'):.2f} s")
            if "restore_terminal_cpu_s" in c:
                out.append(f"  certsync CPU, restore: device {f('restore_cpu_s'):.2f} s "
                           f"({f('restore_cpu_s') / gib:.2f} s/GiB), terminal {f('restore_terminal_cpu_s'):.2f} s "
                           f"({f('restore_terminal_cpu_s') / gib:.2f} s/GiB)")
        if "backup_cpu_s" in o:
            f = lambda k: float(o.get(k, "nan"))
            out.append(f"  restic CPU: backup {f('backup_cpu_s'):.2f} s ({f('backup_cpu_s') / gib:.2f} s/GiB), "
                       f"2nd backup {f('backup2_cpu_s'):.2f} s, restore {f('restore_cpu_s'):.2f} s "
                       f"({f('restore_cpu_s') / gib:.2f} s/GiB)")
        if "backup_chunks" in c:
            out.append(f"  certsync chunks: {c['backup_chunks']} in the backup, {c['backup_chunks_sent']} sent; "
                       f"2nd backup {c.get('backup2_chunks_sent', '?')} sent")
        if "backup2_stored" in c:
            out.append(f"  certsync terminal directory growth: backup {human_bytes(c['backup_stored'])}, 2nd backup "
                       f"{human_bytes(c['backup2_stored'])} (sent counts chunk payload only, not the sealed manifest)")
        meta = [f"{label} {d[key]['restore_meta']}" for key, label in BACKUP_TOOLS
                if "restore_meta" in d.get(key, {})]
        if meta:
            out.append("  restored modes and mtimes vs the source: " + ", ".join(meta))
        out.append("")
    out.append("times are wall clock, each command from its start to its exit; MB/s = dataset bytes / "
               "time, MB = 10^6 bytes; sent = certsync's bytes_sent (chunk payload to the terminal), "
               "restic's repository growth (du -sb); stored = the terminal's directory or the "
               "repository at the end; CPU = user + system (see bench/README.md)")
    return out



def wallet_section(w):
    """Offline transfer: transfers per second in process and through the
    commands, message sizes, and the sync that settles them."""
    out = ["offline transfer (wallet): completed transfers per second and message sizes"]
    if "lib_transfers_per_s" in w:
        out.append(f"  in process (bench/wallet/wallet_bench.c, durable commits, no processes): "
                   f"{float(w['lib_transfers_per_s']):.1f} transfers/s over {w['lib_transfers']} transfers; "
                   f"one transfer p50 {float(w['lib_p50_ms']):.2f} ms, p99 {float(w['lib_p99_ms']):.2f} ms; "
                   f"value conserved: {'yes' if w.get('lib_conserved') == '1' else 'NO'}")
        sizes = [(k[len("lib_size_"):], v) for k, v in w.items() if k.startswith("lib_size_")]
        out.append("  message sizes: " + ", ".join(f"{k} {v} B" for k, v in sizes) +
                   f"; a whole transfer {sum(int(v) for _, v in sizes)} B")
    if "cli_s" in w:
        n, secs = int(w["cli_transfers"]), float(w["cli_s"])
        out.append(f"  through the commands (wallet pay --listen + wallet receive --connect, two processes "
                   f"each): {n / max(secs, 1e-6):.1f} transfers/s ({n} in {secs:.2f} s, {secs / n * 1000:.0f} ms each)")
    if "sync_s" in w:
        out.append(f"  wallet sync of both devices afterwards (upload, verify, settle): {float(w['sync_s']):.2f} s; "
                   f"ledger conserved: {'yes' if w.get('cli_conserved') == '1' else 'NO'}")
    if w.get("status", "ok") != "ok":
        out.append("  " + w["status"].replace("failed", "FAILED", 1))
    return out



def sigd_section(g):
    """The verification cluster: warm verifications per second, cold fetch latency."""
    out = ["signature verification cluster (sigd): two centers and an edge, P-256 certificates"]
    if "batch_warm_per_s" in g:
        ref = float(g.get("openssl_verify_per_s", "0") or 0)
        rate = float(g["batch_warm_per_s"])
        out.append(f"  warm store, batches of {g['batch_warm_batch']} on one connection: {rate:,.0f} verifications/s"
                   + (f" ({rate / ref:.0%} of openssl speed ecdsap256 on one core, {ref:,.0f}/s)" if ref else ""))
    if "single_warm_per_s" in g:
        out.append(f"  warm store, one verification per request on {g['single_warm_threads']} connections: "
                   f"{float(g['single_warm_per_s']):,.0f} verifications/s")
    if "cold_p50_ms" in g:
        out.append(f"  cold fetch (edge asks center 1: not found, center 2: found; checked and stored), "
                   f"{g['cold_requests']} certificates: p50 {float(g['cold_p50_ms']):.2f} ms, "
                   f"p99 {float(g['cold_p99_ms']):.2f} ms, max {float(g['cold_max_ms']):.2f} ms")
    if g.get("status", "ok") != "ok":
        out.append("  " + g["status"].replace("failed", "FAILED", 1))
    return out

if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
