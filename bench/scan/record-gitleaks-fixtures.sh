#!/usr/bin/env bash
# Re-record the expected results of the gitleaks-compatibility fixtures
# (crates/bottle-secrets/tests/fixtures/gitleaks/*/expected.json) by running
# the real gitleaks 8.30.1 on the generated inputs. The tests compare
# bottle's findings with these files and never need gitleaks themselves.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
gitleaks="$("$root/bench/scan/find-gitleaks.sh")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$root" && cargo run -q -p bottle-secrets --example gitleaks_fixture_inputs -- "$work/in") >/dev/null
fixtures="$root/crates/bottle-secrets/tests/fixtures/gitleaks"
for case_dir in "$fixtures"/*/; do
  name="$(basename "$case_dir")"
  [ -d "$work/in/$name" ] || { echo "no inputs for $name" >&2; exit 1; }
  # Decoding off: the fixtures test rules and allowlists (bottle decodes
  # only for DLP). Run from the config's directory: gitleaks resolves
  # `[extend] path` against the working directory.
  (cd "$case_dir" && "$gitleaks" dir --no-banner --log-level error \
      --max-decode-depth 0 -c gitleaks.toml \
      -f json -r "$work/$name.json" --exit-code 0 "$work/in/$name")
  python3 - "$work/$name.json" "$case_dir/expected.json" "$work/in/$name/" <<'PY'
import hashlib, json, sys
found = json.load(open(sys.argv[1]))
out = []
for f in found:
    secret = f["Secret"].encode()
    fp = hashlib.sha256(f["RuleID"].encode() + b"\0" + secret).hexdigest()
    line = f["StartLine"] or None
    path = f["File"]
    assert path.startswith(sys.argv[3]), path
    path = path[len(sys.argv[3]):]
    out.append({"rule_id": f["RuleID"], "path": path, "line": line, "fingerprint": fp})
out.sort(key=lambda x: (x["path"], x["line"] or 0, x["rule_id"], x["fingerprint"]))
with open(sys.argv[2], "w") as fh:
    json.dump(out, fh, indent=1)
    fh.write("\n")
print(f"{sys.argv[2]}: {len(out)} finding(s)")
PY
done
