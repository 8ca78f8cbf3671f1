#!/usr/bin/python3
"""Runs the contraction probe built plainly and with fused multiply-adds, and compares.

Usage: compare.py <plain probe> <fma probe>

Tolerances are the GPU tests': first inputs 2e-3 (1 + |u|), gains 1e-3 (1 + max |K|) per problem,
Ballbot states 1e-4 (1 + |x|) at every step of the episode, stage and terminal costs 1e-4
(1 + |c|), end reasons equal. Exits 77 (skipped) on a processor without FMA instructions.
"""
import re
import subprocess
import sys

if " fma " not in open("/proc/cpuinfo").read().replace("\n", " "):
    print("skipped: this processor has no FMA instructions")
    sys.exit(77)


def numbers(exe):
    out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    return dict((k, float(v)) for k, v in (line.split() for line in out.splitlines()))


plain, fused = numbers(sys.argv[1]), numbers(sys.argv[2])
if plain.keys() != fused.keys():
    print("the two probes printed different keys")
    sys.exit(1)

k_scale = {}  # (step, problem) -> max |K| of the plain build
for key, v in plain.items():
    m = re.match(r"actor\.K\.(\d+)\.(\d+)\.", key)
    if m:
        k_scale[m.groups()] = max(k_scale.get(m.groups(), 0.0), abs(v))

failures, worst = [], {}
for key, a in plain.items():
    b = fused[key]
    kind = ".".join(key.split(".")[:2])
    if kind == "actor.u":
        bound = 2e-3 * (1 + abs(a))
    elif kind == "actor.K":
        bound = 1e-3 * (1 + k_scale[tuple(key.split(".")[2:4])])
    elif kind == "env.reason":
        bound = 0
    else:
        bound = 1e-4 * (1 + abs(a))
    worst[kind] = max(worst.get(kind, 0.0), abs(a - b) / bound if bound else abs(a - b))
    if abs(a - b) > bound:
        failures.append(f"{key}: plain {a}, fused {b}")

print("largest difference / tolerance: " + ", ".join(f"{k} {v:.3g}" for k, v in sorted(worst.items())))
if failures:
    print(f"{len(failures)} values differ beyond the tolerance, e.g.\n  " + "\n  ".join(failures[:10]))
    sys.exit(1)
print(f"all {len(plain)} values agree")
