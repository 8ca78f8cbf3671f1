#!/usr/bin/python3
"""Keeps what a study's claims rest on, small enough to commit: an archive of finished runs.

  archive_runs.py RUN [RUN ...] --into DIR [--unfinished]

A run directory holds tens of megabytes (each checkpoint keeps the replay buffer) and lives under
the git-ignored runs/, so it is lost with the machine. The archive of a run, DIR/<run's name>/,
holds what the figures and tables are made from, about 100 kB:

  config.toml, FINISHED                       as in the run
  metrics.jsonl.gz                            every iteration's and evaluation's figures
  checkpoints/latest, checkpoints/<last>/     the last checkpoint's critic, target network,
                                              config and state, without the replay buffer and the
                                              optimizer's moments; its state.toml says
                                              `archived = true` and checksums only what is kept

`dmpc_figures.py table`, `fig2b` (metrics) and `fig2a`, `fig3` and `dmpc eval` (the target
network) read an archived run as they read the run itself; `dmpc train --resume` refuses it,
since the replay buffer is gone. An archive already in DIR for a run of the same name is replaced.
"""
import argparse
import gzip
import os
import re
import shutil
import sys

KEPT_CHECKPOINT_FILES = ("config.toml", "critic.pt", "target.pt")


def fail(message):
    print(f"archive_runs: error: {message}", file=sys.stderr)
    sys.exit(2)


def archived_state(text, path):
    """state.toml of the archived checkpoint: `archived = true`, checksums of the kept files only."""
    head, sep, checksums = text.partition("[checksums]")
    if not sep:
        fail(f"{path}: no [checksums] table")
    if re.search(r"^archived\s*=", head, re.MULTILINE):
        fail(f"{path}: already an archived checkpoint")
    kept = [line for line in checksums.splitlines()
            if line.strip() and line.split("=")[0].strip().strip("'\"") in KEPT_CHECKPOINT_FILES]
    if len(kept) != len(KEPT_CHECKPOINT_FILES):
        fail(f"{path}: checksums of {', '.join(KEPT_CHECKPOINT_FILES)} expected")
    # Top-level keys must come before the first table.
    return "archived = true\n" + head.rstrip("\n") + "\n\n[checksums]\n" + "\n".join(kept) + "\n"


def archive(run, into, unfinished):
    name = os.path.basename(os.path.normpath(run))
    for required in ("config.toml", "metrics.jsonl", os.path.join("checkpoints", "latest")):
        if not os.path.exists(os.path.join(run, required)):
            fail(f"{run}: not a run directory with a checkpoint (no {required})")
    if not unfinished and not os.path.exists(os.path.join(run, "FINISHED")):
        fail(f"{run}: not finished (no FINISHED); --unfinished archives it as it is")
    with open(os.path.join(run, "checkpoints", "latest")) as f:
        last = f.read().strip()
    checkpoint = os.path.join(run, "checkpoints", last)
    if not last or "/" in last or not os.path.isfile(os.path.join(checkpoint, "state.toml")):
        fail(f"{run}: checkpoints/latest names '{last}', which is not a checkpoint")
    for f in KEPT_CHECKPOINT_FILES:
        if not os.path.isfile(os.path.join(checkpoint, f)):
            fail(f"{checkpoint}: no {f}")
    with open(os.path.join(checkpoint, "state.toml")) as f:
        state = archived_state(f.read(), os.path.join(checkpoint, "state.toml"))

    # Built beside the destination and swapped in at the end, so a failure leaves the old archive.
    dest = os.path.join(into, name)
    tmp = dest + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "checkpoints", last))
    shutil.copy2(os.path.join(run, "config.toml"), tmp)
    if os.path.exists(os.path.join(run, "FINISHED")):
        shutil.copy2(os.path.join(run, "FINISHED"), tmp)
    # mtime=0: the same metrics give the same bytes, so re-archiving changes nothing in git.
    with open(os.path.join(run, "metrics.jsonl"), "rb") as src, \
            open(os.path.join(tmp, "metrics.jsonl.gz"), "wb") as raw, \
            gzip.GzipFile(filename="metrics.jsonl", mode="wb", fileobj=raw, mtime=0) as gz:
        shutil.copyfileobj(src, gz)
    for f in KEPT_CHECKPOINT_FILES:
        shutil.copy2(os.path.join(checkpoint, f), os.path.join(tmp, "checkpoints", last))
    with open(os.path.join(tmp, "checkpoints", last, "state.toml"), "w") as f:
        f.write(state)
    with open(os.path.join(tmp, "checkpoints", "latest"), "w") as f:
        f.write(last + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    return dest


def main():
    p = argparse.ArgumentParser(description="Archive finished dmpc runs: metrics and the last critic, no replay buffer.")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--into", required=True, metavar="DIR")
    p.add_argument("--unfinished", action="store_true", help="also archive runs without FINISHED")
    args = p.parse_args()
    names = [os.path.basename(os.path.normpath(r)) for r in args.runs]
    if len(set(names)) != len(names):
        fail("two runs of the same name: " + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    os.makedirs(args.into, exist_ok=True)
    for run in args.runs:
        size = 0
        dest = archive(run, args.into, args.unfinished)
        for root, _, files in os.walk(dest):
            size += sum(os.path.getsize(os.path.join(root, f)) for f in files)
        print(f"{run} -> {dest} ({size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
