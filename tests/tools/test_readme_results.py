#!/usr/bin/python3
"""The README's study results against the archived runs they were drawn from.

Usage: /usr/bin/python3 tests/tools/test_readme_results.py <source-dir>

Every row of a study table in README.md (the tables `tools/plots/dmpc_figures.py table` prints)
whose configuration has all its seeds in results/study-runs/ (<config>-s1 ... -sN, N the row's
"runs" column) is recomputed from the archive and must be the same row, character for character:
a README number that no archived run gives fails here. Rows without an archive yet (the dense
table of sessions 18-19, whose run directories were lost) are listed, not checked; at least one
row must be checked, so the test cannot pass by finding nothing. The same for the rows of the
training-phase table (`dmpc_figures.py phases`) named "<config> s1 / s2 / s3 (...)". Every image
the README shows must exist in the repository.

When this fails after new runs were archived, replace the README's row with the one printed here
(and revise the text around it that quotes its numbers).
"""
import os
import re
import subprocess
import sys

SOURCE = sys.argv[1]
README = os.path.join(SOURCE, "README.md")
ARCHIVE = os.path.join(SOURCE, "results", "study-runs")
FIGURES = os.path.join(SOURCE, "tools", "plots", "dmpc_figures.py")
TABLE_HEADER = "| configuration | runs | iterations | eval success: all / last 10 / best |"

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures.append(f"{name}: {detail}")


with open(README) as f:
    lines = f.read().splitlines()


def table_rows(header):
    """(line number, line) of every row of the README's tables that start with `header`."""
    found, in_table = [], False
    for number, line in enumerate(lines, start=1):
        if line.startswith(header):
            in_table = True
            continue
        if in_table and line.startswith("|---"):
            continue
        if in_table and line.startswith("| "):
            found.append((number, line))
            continue
        in_table = False
    return found


# Rows of the study tables: the lines after a table header, until the table ends.
rows = table_rows(TABLE_HEADER)

check("the README has study-table rows", len(rows) > 0, "no table starting with " + TABLE_HEADER)

# The rows whose seeds are all archived, recomputed by one `dmpc_figures.py table` call.
archived, groups = [], []
for number, row in rows:
    cells = [c.strip() for c in row.strip("|").split("|")]
    config, seeds = cells[0], int(cells[1])
    runs = [os.path.join(ARCHIVE, f"{config}-s{s}") for s in range(1, seeds + 1)]
    if not all(os.path.isdir(run) for run in runs):
        print(f"--   README.md:{number} {config}: no archive of its {seeds} seeds in results/study-runs, not checked")
        continue
    archived.append((number, config, row))
    groups += ["--group", f"{config}={','.join(runs)}"]
check("at least one README row was checked against the archive", len(archived) > 0,
      "none of the README's study configurations has an archive in results/study-runs")
if archived:
    r = subprocess.run([sys.executable, FIGURES, "table"] + groups, capture_output=True, text=True, timeout=300)
    check("dmpc_figures.py table runs on the archive", r.returncode == 0, r.stderr.strip())
    recomputed = {line.split(" | ")[0][2:]: line for line in r.stdout.splitlines()[2:]}  # after header and rule
    for number, config, row in archived:
        check(f"README.md:{number} {config} is the archive's row", recomputed.get(config) == row,
              f"dmpc_figures.py table gives\n  {recomputed.get(config)}\nthe README has\n  {row}")

# Rows of the training-phase table ("why the 0.5 s and 1.5 s horizons do not learn"): a row named
# "<config> s1 / s2 / s3 (...)" whose runs are all archived must be `dmpc_figures.py phases`'s row.
PHASES_HEADER = "| runs | iteration 1 | iterations 1–10 | last 50 iterations |"
phase_checked = 0
for number, row in table_rows(PHASES_HEADER):
    name = row.strip("|").split("|")[0].strip()
    m = re.match(r"(\S+) ((?:s\d+(?: / )?)+)", name)
    seeds = re.findall(r"s(\d+)", m.group(2)) if m else []
    runs = [os.path.join(ARCHIVE, f"{m.group(1)}-s{k}") for k in seeds] if m else []
    if not runs or "session 19" in name or not all(os.path.isdir(run) for run in runs):
        print(f"--   README.md:{number} {name}: not (all) archived, not checked")
        continue
    r = subprocess.run([sys.executable, FIGURES, "phases", "--group", f"{name}={','.join(runs)}"],
                       capture_output=True, text=True, timeout=300)
    got = r.stdout.splitlines()[-1] if r.returncode == 0 and r.stdout else r.stderr.strip()
    check(f"README.md:{number} {name} is the archive's training-phase row", got == row,
          f"dmpc_figures.py phases gives\n  {got}\nthe README has\n  {row}")
    phase_checked += 1
check("at least one training-phase row was checked against the archive", phase_checked > 0)

# Images the README shows: ![alt](path), relative to the repository.
images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", "\n".join(lines))
missing = [p for p in images if not p.startswith("http") and not os.path.isfile(os.path.join(SOURCE, p))]
check(f"the README's {len(images)} images exist", images and not missing, "missing: " + ", ".join(missing))

if failures:
    print("\n" + "\n".join(failures))
    sys.exit(1)
print(f"{len(archived)} README rows match the archive")
