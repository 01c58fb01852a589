#!/usr/bin/env python3
"""Score scanner reports against the planted secrets.

usage: evaluate.py MODE PLANTED.json REPORT.json TOOL ROOT
  MODE dir|git; TOOL bottle|gitleaks; ROOT is stripped from reported paths.
Prints one JSON object: found, planted, recall, false_positives,
missed_types, fp_by_dir.
A finding counts for a planted secret when it is on the same file and line
(and commit, for git); every other distinct (commit, file, line) reported is
a false positive. Planted secrets with a column (the dense files, many per
line) are matched by line and column instead: a finding within 16 bytes of
the token's start; every other distinct (file, line, column) is a false
positive.
"""
import bisect
import json
import sys

mode, planted_path, report_path, tool, root = sys.argv[1:6]
planted = json.load(open(planted_path))
report = json.load(open(report_path))
if tool == "bottle":
    findings = report["findings"]
    locs = {(f.get("commit") or "", f.get("path") or "", f.get("line") or 0, f.get("column") or 0)
            for f in findings}
else:
    locs = {(f.get("Commit") or "", f.get("File") or "", f.get("StartLine") or 0, f.get("StartColumn") or 0)
            for f in report}


def norm(p):
    p = p[len(root):] if p.startswith(root) else p
    return p.lstrip("./") if p.startswith("./") else p.lstrip("/")


locs = {(c if mode == "git" else "", norm(p), l, col) for (c, p, l, col) in locs}
want = {}
by_line = {}  # (commit, path, line) -> sorted [(col, key)] for column-matched secrets
for s in planted:
    c = s.get("commit", "") if mode == "git" else ""
    if "col" in s:
        key = (c, s["path"], s["line"], s["col"])
        by_line.setdefault((c, s["path"], s["line"]), []).append((s["col"], key))
    else:
        key = (c, s["path"], s["line"])
    want[key] = s["type"]
for v in by_line.values():
    v.sort()
found = set()
fps = set()
for (c, p, l, col) in locs:
    cols = by_line.get((c, p, l))
    if cols is not None:
        i = bisect.bisect_left(cols, (col - 16,))
        hit = next((k for (pc, k) in cols[i:i + 3] if abs(pc - col) <= 16), None)
        if hit is not None:
            found.add(hit)
        else:
            fps.add((c, p, l, col))
    elif (c, p, l) in want:
        found.add((c, p, l))
    else:
        fps.add((c, p, l))
by_type = {}
for k, t in want.items():
    a = by_type.setdefault(t, [0, 0])
    a[1] += 1
    if k in found:
        a[0] += 1
fp_by_dir = {}
for k in fps:
    parts = k[1].split("/")
    d = "/".join(parts[:2])
    fp_by_dir[d] = fp_by_dir.get(d, 0) + 1
print(json.dumps({
    "found": len(found), "planted": len(want),
    "recall": round(len(found) / max(1, len(want)), 4),
    "false_positives": len(fps),
    "missed_types": {t: f"{a[0]}/{a[1]}" for t, a in sorted(by_type.items()) if a[0] < a[1]},
    "fp_by_dir": dict(sorted(fp_by_dir.items())),
}))
