#!/usr/bin/env bash
# Precision on real code (issue 11, scope 3): bottle scan (the `code`
# profile, defaults) and gitleaks 8.30.1 (defaults) on vendored trees that
# hold no live secrets, findings counted by rule. Every finding here is a
# false positive or a published test key.
#
#   bash bench/scan/realcode.sh [TREE...]
#   (default: ~/.cargo/registry/src, Python's stdlib, /usr/share/doc)
#
# BOTTLE_BIN overrides the bottle binary (default: a release build of this
# tree). Reports stay in $OUT (default: a temp dir, printed at the end).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
gitleaks="$("$here/find-gitleaks.sh")"
if [ -z "${BOTTLE_BIN:-}" ]; then
  (cd "$root" && cargo build --release -q -p bottle)
  BOTTLE_BIN="$root/target/x86_64-unknown-linux-gnu/release/bottle"
fi
out="${OUT:-$(mktemp -d)}"
if [ "$#" -eq 0 ]; then
  set -- "$HOME/.cargo/registry/src" "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" /usr/share/doc
fi
for tree in "$@"; do
  name="$(echo "$tree" | tr '/' '_' | sed 's/^_//')"
  bytes="$(du -sb "$tree" | cut -f1)"
  t0=$(date +%s.%N)
  "$BOTTLE_BIN" scan "$tree" --format json -o "$out/b-$name.json" || true
  t1=$(date +%s.%N)
  "$gitleaks" dir --no-banner --log-level error -f json -r "$out/g-$name.json" --exit-code 0 "$tree"
  t2=$(date +%s.%N)
  python3 - "$tree" "$bytes" "$out/b-$name.json" "$out/g-$name.json" "$t0" "$t1" "$t2" <<'PY'
import collections, json, sys
tree, size, bf, gf, t0, t1, t2 = sys.argv[1:]
b = json.load(open(bf))["findings"]
g = json.load(open(gf))
bc = collections.Counter(f["rule_id"] for f in b)
gc = collections.Counter(f["RuleID"] for f in g)
print(f"{tree}: {int(size) / 2**20:.0f} MiB; bottle {len(b)} findings in {float(t1) - float(t0):.1f} s, "
      f"gitleaks {len(g)} in {float(t2) - float(t1):.1f} s")
print("  bottle:  ", dict(bc.most_common()))
print("  gitleaks:", dict(gc.most_common()))
PY
done
echo "reports in $out"
