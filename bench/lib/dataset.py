#!/usr/bin/env python3
"""Deterministic benchmark datasets, the incremental change, and tree signatures.

  dataset.py ensure NAME OUTDIR --kind mixed|small --scale S
      Generate OUTDIR/tree (and OUTDIR/MANIFEST) unless it already exists with
      a manifest that matches the spec and a tree that matches the manifest.
  dataset.py mutate TREE --seed N [--exclude GLOB ...]
      Apply the incremental change (~1% of the files): a few bytes overwritten
      in some files, data appended to others, a few new files, a few deleted.
      The same seed on the same tree gives the same change, byte for byte,
      and the touched files get a fixed mtime, so every tool's copy ends equal.
  dataset.py sig TREE OUT [--exclude GLOB ...]
      Write a sorted listing (path, type, mode, size, mtime ns, sha256) to OUT
      and print "DIGEST FILES BYTES" (DIGEST is the sha256 of the listing).
  dataset.py stats TREE
      Print "FILES BYTES".

Contents are pseudo-random (incompressible) bytes from random.Random(seed),
and mtimes are fixed, so two generations of a dataset are identical.
"""
import argparse
import fnmatch
import hashlib
import json
import os
import random
import sys

GENERATOR_VERSION = 1
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
BASE_MTIME = 1704067200  # 2024-01-01T00:00:00Z
MUTATE_MTIME = BASE_MTIME + 10_000_000  # files the incremental change touches (2024-04-26)


def spec_for(kind, scale):
    """The parameters of a dataset kind at a scale (1.0 = full size)."""
    if kind == "mixed":
        return {"kind": kind, "scale": scale, "seed": 1001,
                "total": int(GiB * scale),
                "big": {"count": 3, "min": int(100 * MiB * scale), "max": int(160 * MiB * scale)},
                "small": {"count": max(1, int(3000 * scale)), "min": 4 * KiB, "max": 64 * KiB},
                "medium": {"min": 1 * MiB, "max": 10 * MiB},
                "dirs": max(4, int(60 * scale))}
    if kind == "small":
        return {"kind": kind, "scale": scale, "seed": 2002,
                "small": {"count": max(1, int(20000 * scale)), "min": 1 * KiB, "max": 16 * KiB},
                "dirs": max(4, int(400 * scale))}
    raise SystemExit(f"dataset.py: unknown kind {kind!r}")


def make_dirs(rng, count):
    """A pool of nested directories, 1 to 3 levels deep."""
    dirs = []
    for i in range(count):
        depth = rng.randint(1, 3)
        parts = [f"d{i % 10:02d}"] + [f"s{rng.randint(0, 7)}" for _ in range(depth - 1)]
        if depth > 1:
            parts[-1] += f"-{i:03d}"
        dirs.append("/".join(parts))
    return dirs


def plan(spec):
    """The list of (relative path, size) a spec produces, in generation order."""
    rng = random.Random(spec["seed"])
    dirs = make_dirs(rng, spec["dirs"])
    files = []

    def add(prefix, size):
        d = rng.choice(dirs)
        files.append((f"{d}/{prefix}{len(files):05d}.bin", size))

    if spec["kind"] == "mixed":
        for _ in range(spec["big"]["count"]):
            add("big-", rng.randint(spec["big"]["min"], spec["big"]["max"]))
        for _ in range(spec["small"]["count"]):
            add("small-", rng.randint(spec["small"]["min"], spec["small"]["max"]))
        remaining = spec["total"] - sum(s for _, s in files)
        while remaining > 0:
            size = min(remaining, rng.randint(spec["medium"]["min"], spec["medium"]["max"]))
            add("medium-", size)
            remaining -= size
    else:
        for _ in range(spec["small"]["count"]):
            add("small-", rng.randint(spec["small"]["min"], spec["small"]["max"]))
    return files


def write_random(path, size, rng, mode="wb"):
    with open(path, mode) as f:
        left = size
        while left > 0:
            n = min(left, 4 * MiB)
            f.write(rng.randbytes(n))
            left -= n


def listing_matches(tree, files):
    for i, (rel, size) in enumerate(files):
        try:
            st = os.stat(os.path.join(tree, rel))
        except OSError:
            return False
        if st.st_size != size or int(st.st_mtime) != BASE_MTIME + i:
            return False
    return sum(len(fs) for _, _, fs in os.walk(tree)) == len(files)


def cmd_ensure(args):
    spec = spec_for(args.kind, args.scale)
    spec["version"] = GENERATOR_VERSION
    files = plan(spec)
    tree = os.path.join(args.outdir, "tree")
    manifest_path = os.path.join(args.outdir, "MANIFEST")
    want = {"spec": spec, "files": len(files), "bytes": sum(s for _, s in files)}
    try:
        with open(manifest_path) as f:
            have = json.load(f)
    except (OSError, ValueError):
        have = None
    if have == want and listing_matches(tree, files):
        print(f"dataset {args.name}: reusing {tree} ({want['files']} files, {want['bytes']} bytes)")
        return
    print(f"dataset {args.name}: generating {want['files']} files, {want['bytes']} bytes in {tree}",
          flush=True)
    if os.path.exists(manifest_path):
        os.unlink(manifest_path)
    if os.path.exists(tree):
        import shutil
        shutil.rmtree(tree)
    rng = random.Random(spec["seed"] + 1)
    for i, (rel, size) in enumerate(files):
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_random(path, size, rng)
        os.utime(path, (BASE_MTIME + i, BASE_MTIME + i))
    for dirpath, _, _ in os.walk(tree):
        os.utime(dirpath, (BASE_MTIME, BASE_MTIME))
    with open(manifest_path + ".tmp", "w") as f:
        json.dump(want, f, indent=1, sort_keys=True)
    os.rename(manifest_path + ".tmp", manifest_path)


def excluded(name, patterns):
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def walk(tree, patterns):
    """Sorted relative paths of every entry under tree, skipping excluded names."""
    out = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if not excluded(d, patterns)]
        rel = os.path.relpath(dirpath, tree)
        for n in dirnames + filenames:
            if not excluded(n, patterns):
                out.append(n if rel == "." else f"{rel}/{n}")
    return sorted(out)


def cmd_mutate(args):
    """~1% of the files: 40% overwritten in place, 30% appended, 15% new, 15% deleted."""
    rng = random.Random(args.seed)
    files = [p for p in walk(args.tree, args.exclude)
             if os.path.isfile(os.path.join(args.tree, p))]
    sizes = {p: os.path.getsize(os.path.join(args.tree, p)) for p in files}
    n = max(8, round(len(files) * 0.01))
    n_edit, n_append = round(n * 0.40), round(n * 0.30)
    n_new = round(n * 0.15)
    n_del = n - n_edit - n_append - n_new
    biggest = max(files, key=lambda p: (sizes[p], p))
    rest = [p for p in files if p != biggest]
    picked = rng.sample(rest, n_edit - 1 + n_append + n_del)
    edits = [biggest] + picked[:n_edit - 1]      # the largest file always gets an edit
    appends = picked[n_edit - 1:n_edit - 1 + n_append]
    deletes = picked[n_edit - 1 + n_append:]
    changed = 0
    for p in edits:                                # 1-3 spots of 1-64 bytes each
        with open(os.path.join(args.tree, p), "r+b") as f:
            for _ in range(rng.randint(1, 3)):
                k = rng.randint(1, 64)
                f.seek(rng.randint(0, max(0, sizes[p] - k)))
                f.write(rng.randbytes(k))
                changed += k
    for p in appends:                              # 1-64 KiB at the end
        k = rng.randint(1 * KiB, 64 * KiB)
        write_random(os.path.join(args.tree, p), k, rng, mode="ab")
        changed += k
    dirs = sorted({os.path.dirname(p) for p in files})
    created = []
    for i in range(n_new):                         # new files, 4-64 KiB
        k = rng.randint(4 * KiB, 64 * KiB)
        created.append(f"{rng.choice(dirs)}/new-{args.seed}-{i:03d}.bin")
        write_random(os.path.join(args.tree, created[-1]), k, rng)
        changed += k
    for p in deletes:
        os.unlink(os.path.join(args.tree, p))
    for p in edits + appends + created:
        os.utime(os.path.join(args.tree, p), (MUTATE_MTIME, MUTATE_MTIME))
    print(f"mutate: {len(edits)} edited, {len(appends)} appended, {n_new} new, "
          f"{len(deletes)} deleted, {changed} bytes of new content")


def cmd_sig(args):
    digest = hashlib.sha256()
    files = total = 0
    with open(args.out, "w") as out:
        for rel in walk(args.tree, args.exclude):
            path = os.path.join(args.tree, rel)
            st = os.lstat(path)
            mode = f"{st.st_mode & 0o7777:o}"
            if os.path.islink(path):
                line = f"{rel}\tl\t{os.readlink(path)}\n"
            elif os.path.isdir(path):
                line = f"{rel}\td\t{mode}\n"
            else:
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    while True:
                        b = f.read(1 * MiB)
                        if not b:
                            break
                        h.update(b)
                line = f"{rel}\tf\t{mode}\t{st.st_size}\t{st.st_mtime_ns}\t{h.hexdigest()}\n"
                files += 1
                total += st.st_size
            out.write(line)
            digest.update(line.encode())
    print(digest.hexdigest(), files, total)


def cmd_stats(args):
    files = total = 0
    for rel in walk(args.tree, []):
        path = os.path.join(args.tree, rel)
        if os.path.isfile(path):
            files += 1
            total += os.path.getsize(path)
    print(files, total)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ensure")
    p.add_argument("name"); p.add_argument("outdir")
    p.add_argument("--kind", required=True, choices=["mixed", "small"])
    p.add_argument("--scale", type=float, default=1.0)
    p.set_defaults(fn=cmd_ensure)
    p = sub.add_parser("mutate")
    p.add_argument("tree"); p.add_argument("--seed", type=int, default=7)
    p.add_argument("--exclude", action="append", default=[])
    p.set_defaults(fn=cmd_mutate)
    p = sub.add_parser("sig")
    p.add_argument("tree"); p.add_argument("out")
    p.add_argument("--exclude", action="append", default=[])
    p.set_defaults(fn=cmd_sig)
    p = sub.add_parser("stats")
    p.add_argument("tree")
    p.set_defaults(fn=cmd_stats)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
