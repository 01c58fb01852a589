#!/usr/bin/env bash
# Git gate benchmark: clone and fetch through the gate vs directly from the
# upstream, in the same run; a push of 1,000 new commits through the gate,
# secret scan included.
#
#   bash bench/gitgate/run.sh            # builds bottle (release) first
#   BOTTLE_BIN=/path/to/bottle bash bench/gitgate/run.sh
#
# Needs: git, python3. Writes everything under a temp dir (removed at exit;
# KEEP=1 keeps it). Prints a markdown table; copy it to docs/benchmarks.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
COMMITS="${COMMITS:-5000}"          # history of the generated repository
BYTES_PER_COMMIT="${BYTES_PER_COMMIT:-20000}"
PUSH_COMMITS="${PUSH_COMMITS:-1000}"
PUSH_BYTES="${PUSH_BYTES:-50000}"   # added text per pushed commit
RUNS="${RUNS:-3}"

if [[ -z "${BOTTLE_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p bottle >&2)
  BOTTLE_BIN="$ROOT/target/x86_64-unknown-linux-gnu/release/bottle"
fi

WORK="$(mktemp -d /tmp/bottle-gitgate-bench.XXXXXX)"
GATE_PID=""
cleanup() {
  if [[ -n "$GATE_PID" ]]; then kill "$GATE_PID" 2>/dev/null || true; wait "$GATE_PID" 2>/dev/null || true; fi
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

# Hermetic git for every client below.
export HOME="$WORK/home" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 LC_ALL=C
mkdir -p "$HOME"
printf '[user]\n\tname = Bench\n\temail = bench@bottle.invalid\n[init]\n\tdefaultBranch = main\n' > "$HOME/.gitconfig"
DIRECT_CFG="$HOME/.gitconfig"
AGENT_CFG="$WORK/agent.gitconfig"

now() { python3 -c 'import time; print(f"{time.perf_counter():.6f}")'; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
median() { python3 -c 'import sys, statistics; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }

log() { echo "== $*" >&2; }

log "generating upstream: $COMMITS commits x $BYTES_PER_COMMIT bytes"
UP="$WORK/upstream.git"
git init -q --bare -b main "$UP"
python3 "$HERE/gen.py" history "$COMMITS" "$BYTES_PER_COMMIT" | git -C "$UP" fast-import --quiet
git -C "$UP" repack -a -d -q
UP_PACK_BYTES=$(du -cb "$UP"/objects/pack/*.pack | tail -1 | cut -f1)
UP_COMMITS=$(git -C "$UP" rev-list --count main)
log "upstream: $UP_COMMITS commits, pack $(mib "$UP_PACK_BYTES") MiB"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/gate.toml" <<TOML
listen = "127.0.0.1:$PORT"
bottle = "bench"
data_dir = "$WORK/gate-data"
audit = { file = "$WORK/audit.jsonl" }

[[remotes]]
name = "origin"
upstream = "file://$UP"
TOML
"$BOTTLE_BIN" git-gate --config "$WORK/gate.toml" 2>"$WORK/gate.log" &
GATE_PID=$!
for _ in $(seq 100); do
  "$BOTTLE_BIN" git-gate health --addr "127.0.0.1:$PORT" --timeout 1 >/dev/null 2>&1 && break
  sleep 0.1
done
"$BOTTLE_BIN" git-gate agent-config --config "$WORK/gate.toml" --gate-url "http://127.0.0.1:$PORT" > "$AGENT_CFG"
cat "$DIRECT_CFG" >> "$AGENT_CFG"

direct() { GIT_CONFIG_GLOBAL="$DIRECT_CFG" git "$@"; }
gated() { GIT_CONFIG_GLOBAL="$AGENT_CFG" git "$@"; }

clone_time() { # fn dest
  local t0 t1
  rm -rf "$2"
  t0=$(now); "$1" clone -q --no-checkout "file://$UP" "$2"; t1=$(now)
  elapsed "$t0" "$t1"
}

log "clone through the gate, cold (the mirror is created inside this request)"
COLD=$(clone_time gated "$WORK/cold")
# The gate repacks a fresh mirror (bitmaps) in the background after serving;
# let it finish, as it would have long before the next clone in real use.
for _ in $(seq 600); do
  ls "$WORK"/gate-data/mirrors/origin.git/objects/pack/*.bitmap >/dev/null 2>&1 && break
  sleep 0.1
done
direct_clones=(); gate_clones=()
for i in $(seq "$RUNS"); do
  log "clone run $i"
  direct_clones+=("$(clone_time direct "$WORK/direct-clone")")
  gate_clones+=("$(clone_time gated "$WORK/gate-clone")")
done
D_CLONE=$(median "${direct_clones[@]}"); G_CLONE=$(median "${gate_clones[@]}")

# Fetch: the upstream gains 100 commits (about 2 MiB) before each round.
rm -rf "$WORK/df" "$WORK/gf"
direct clone -q --no-checkout "file://$UP" "$WORK/df"
gated clone -q --no-checkout "file://$UP" "$WORK/gf"
direct_fetches=(); gate_fetches=()
for i in $(seq "$RUNS"); do
  log "fetch run $i"
  tip=$(git -C "$UP" rev-parse main)
  python3 "$HERE/gen.py" history 100 "$BYTES_PER_COMMIT" main "$tip" | git -C "$UP" fast-import --quiet --force
  t0=$(now); direct -C "$WORK/df" fetch -q origin; t1=$(now); direct_fetches+=("$(elapsed "$t0" "$t1")")
  t0=$(now); gated -C "$WORK/gf" fetch -q origin; t1=$(now); gate_fetches+=("$(elapsed "$t0" "$t1")")
  [[ "$(git -C "$WORK/gf" rev-parse origin/main)" == "$(git -C "$UP" rev-parse main)" ]] || { echo "gate fetch is stale" >&2; exit 1; }
done
D_FETCH=$(median "${direct_fetches[@]}"); G_FETCH=$(median "${gate_fetches[@]}")
# How much of a gate fetch was the refresh (upstream -> mirror), from the
# audit log: the advertisements that brought new refs.
REFRESH=$(python3 - "$WORK/audit.jsonl" "$RUNS" <<'PY'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ms = [r["duration_ms"] for r in recs if r["event"] == "fetch" and r["refs"]][-int(sys.argv[2]):]
print(f"{statistics.median(ms) / 1000:.3f}")
PY
)

# No-op fetch: nothing new upstream (the cost of the refresh round trip).
t0=$(now); direct -C "$WORK/df" fetch -q origin; t1=$(now); D_NOOP=$(elapsed "$t0" "$t1")
t0=$(now); gated -C "$WORK/gf" fetch -q origin; t1=$(now); G_NOOP=$(elapsed "$t0" "$t1")

log "push: $PUSH_COMMITS new commits x $PUSH_BYTES bytes of added lines"
rm -rf "$WORK/pw" "$WORK/pd" "$WORK/up-direct.git"
gated clone -q --no-checkout "file://$UP" "$WORK/pw"
tip=$(git -C "$WORK/pw" rev-parse HEAD)
python3 "$HERE/gen.py" push "$PUSH_COMMITS" "$PUSH_BYTES" main "$tip" | git -C "$WORK/pw" fast-import --quiet --force
ADDED_BYTES=$(git -C "$WORK/pw" log -p --format= "$tip..main" | grep '^+' | grep -v '^+++' | wc -c)
# The same push straight to a copy of the upstream, for comparison.
cp -r "$UP" "$WORK/up-direct.git"
t0=$(now); direct -C "$WORK/pw" push -q "file://$WORK/up-direct.git" main; t1=$(now); D_PUSH=$(elapsed "$t0" "$t1")
t0=$(now); gated -C "$WORK/pw" push origin main 2>"$WORK/push.err"; t1=$(now); G_PUSH=$(elapsed "$t0" "$t1")
[[ "$(git -C "$UP" rev-parse main)" == "$(git -C "$WORK/pw" rev-parse main)" ]] || { cat "$WORK/push.err" >&2; echo "push did not land" >&2; exit 1; }
SCAN_S=$(sed -n 's/.*scanned .* in \([0-9.]*\)s: no secrets found.*/\1/p' "$WORK/push.err" | head -1)
SCAN_RATE=$(python3 -c "print(f'{$ADDED_BYTES / 1048576 / $SCAN_S:.0f}')")

cat <<MD
Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(git --version), $(date -u +%Y-%m-%d).
Upstream: $UP_COMMITS commits, $(mib "$UP_PACK_BYTES") MiB pack, \`file://\`; gate on 127.0.0.1. Median of $RUNS runs; clones are \`git clone --no-checkout\`.

| operation | direct | through the gate | ratio |
| --- | ---: | ---: | ---: |
| clone (mirror already created) | ${D_CLONE} s | ${G_CLONE} s | $(ratio "$G_CLONE" "$D_CLONE")x |
| clone, first ever (mirror created in the request) | ${D_CLONE} s | ${COLD} s | $(ratio "$COLD" "$D_CLONE")x |
| fetch of 100 new commits (~$(mib $((100 * BYTES_PER_COMMIT))) MiB) | ${D_FETCH} s | ${G_FETCH} s (refresh ${REFRESH} s) | $(ratio "$G_FETCH" "$D_FETCH")x |
| fetch, nothing new | ${D_NOOP} s | ${G_NOOP} s | $(ratio "$G_NOOP" "$D_NOOP")x |
| push of $PUSH_COMMITS new commits, $(mib "$ADDED_BYTES") MiB of added lines | ${D_PUSH} s | ${G_PUSH} s | $(ratio "$G_PUSH" "$D_PUSH")x |

Push scan (inside the gate's pre-receive hook, as it reports): ${SCAN_S} s for $(mib "$ADDED_BYTES") MiB of added lines = **${SCAN_RATE} MiB/s**.
MD
