#!/usr/bin/python3
"""dmpc_figures.py's drawing of the task against the task's own rules (envs/task/task.hpp).

Usage: /usr/bin/python3 tests/tools/test_figures.py <source-dir>

A wall's collision zone is every point within thickness/2 + robot_clearance of its segment
(hits_wall), so its outline has round ends: every vertex of capsule_outline lies at that distance
from the segment, the outline reaches past the segment's ends by the radius, and a point beside
an end, inside the radius but outside a rectangle round the segment, is inside the drawn polygon.
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(sys.argv[1], "tools", "plots"))
from dmpc_figures import capsule_outline  # noqa: E402
from matplotlib.path import Path  # noqa: E402

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        failures.append(f"{name}: {detail}")


def distance_to_segment(p, a, b):  # as envs/task/task.hpp computes it
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    s = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - s * dx, py - ay - s * dy)


for start, end in (((-0.6, 0.0), (0.6, 0.0)), ((0.2, -0.5), (-0.3, 0.7))):
    radius = 0.05 + 0.2  # half the study's wall thickness plus its robot clearance
    outline = capsule_outline(start, end, radius)
    worst = max(abs(distance_to_segment(p, start, end) - radius) for p in outline)
    check(f"every outline vertex is the zone's radius from the wall {start}-{end}", worst < 1e-12, f"off by {worst}")
    length = math.hypot(end[0] - start[0], end[1] - start[1])
    ux, uy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
    reach = max((p[0] - end[0]) * ux + (p[1] - end[1]) * uy for p in outline)
    check("the outline reaches the radius past the wall's end", abs(reach - radius) < 1e-12, f"{reach}")
    polygon = Path(outline)
    beside_end = (end[0] + 0.8 * radius * ux, end[1] + 0.8 * radius * uy)  # colliding, past the end
    outside = (end[0] + 1.2 * radius * ux, end[1] + 1.2 * radius * uy)     # free
    corner = (end[0] + 0.9 * radius * (ux - uy), end[1] + 0.9 * radius * (uy + ux))  # a rectangle's corner
    check("a colliding point past the end is inside the drawn zone", polygon.contains_point(beside_end))
    check("a free point past the end is outside it", not polygon.contains_point(outside))
    check("a rectangle's corner (free: farther than the radius) is outside it",
          distance_to_segment(corner, start, end) > radius and not polygon.contains_point(corner))

if failures:
    print(f"\n{len(failures)} failure(s):\n  " + "\n  ".join(failures))
    sys.exit(1)
print("\nall figure checks passed")
