#!/usr/bin/env python3
"""Score scanner reports against the planted secrets.

usage: evaluate.py MODE PLANTED.json REPORT.json TOOL ROOT
  MODE dir|git; TOOL bottle|gitleaks; ROOT is stripped from reported paths.
Prints one JSON object: found, planted, recall, false_positives, by_type.
A finding counts for a planted secret when it is on the same file and line
(and commit, for git); every other distinct (commit, file, line) reported is
a false positive.
"""
import json
import sys

mode, planted_path, report_path, tool, root = sys.argv[1:6]
planted = json.load(open(planted_path))
report = json.load(open(report_path))
if tool == "bottle":
    findings = report["findings"]
    locs = {(f.get("commit") or "", f.get("path") or "", f.get("line") or 0) for f in findings}
else:
    locs = {(f.get("Commit") or "", f.get("File") or "", f.get("StartLine") or 0) for f in report}

def norm(p):
    p = p[len(root):] if p.startswith(root) else p
    return p.lstrip("./") if p.startswith("./") else p.lstrip("/")

locs = {(c if mode == "git" else "", norm(p), l) for (c, p, l) in locs}
want = {}
for s in planted:
    key = (s.get("commit", "") if mode == "git" else "", s["path"], s["line"])
    want[key] = s["type"]
found = {k for k in want if k in locs}
by_type = {}
for k, t in want.items():
    a = by_type.setdefault(t, [0, 0])
    a[1] += 1
    if k in found:
        a[0] += 1
fp = len(locs - set(want))
print(json.dumps({
    "found": len(found), "planted": len(want),
    "recall": round(len(found) / max(1, len(want)), 4),
    "false_positives": fp,
    "missed_types": {t: f"{a[0]}/{a[1]}" for t, a in sorted(by_type.items()) if a[0] < a[1]},
}))
