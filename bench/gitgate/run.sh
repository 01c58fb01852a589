#!/usr/bin/env bash
# Git gate benchmark: clone and fetch through the gate vs directly from the
# upstream, in the same run, for two kinds of upstream: the repository as
# file:// (the harshest case: the gate's extra leg costs as much as the
# upstream leg) and the same repository over ssh from a real sshd on
# loopback (Debian's openssh-server; throwaway host and user keys); a push of
# 1,000 new commits through the gate, secret scan included.
#
#   bash bench/gitgate/run.sh            # builds bottle (release) first
#   BOTTLE_BIN=/path/to/bottle bash bench/gitgate/run.sh
#
# Needs: git, python3, openssh-server + openssh-client (ssh rows; SSH=0
# skips them). Writes everything under a temp dir (removed at exit;
# KEEP=1 keeps it). Prints a markdown table; copy it to docs/benchmarks.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
COMMITS="${COMMITS:-5000}"          # history of the generated repository
BYTES_PER_COMMIT="${BYTES_PER_COMMIT:-20000}"
PUSH_COMMITS="${PUSH_COMMITS:-1000}"
PUSH_BYTES="${PUSH_BYTES:-50000}"   # added text per pushed commit
RUNS="${RUNS:-3}"                   # clone runs
FETCH_RUNS="${FETCH_RUNS:-5}"       # fetch rounds (100 new commits each)
SSH="${SSH:-1}"
SSHD="${SSHD:-/usr/sbin/sshd}"

if [[ -z "${BOTTLE_BIN:-}" ]]; then
  (cd "$ROOT" && cargo build --release -p bottle >&2)
  BOTTLE_BIN="$ROOT/target/x86_64-unknown-linux-gnu/release/bottle"
fi

WORK="$(mktemp -d /tmp/bottle-gitgate-bench.XXXXXX)"
GATE_PID=""
SSHD_PID=""
cleanup() {
  if [[ -n "$GATE_PID" ]]; then kill "$GATE_PID" 2>/dev/null || true; wait "$GATE_PID" 2>/dev/null || true; fi
  if [[ -n "$SSHD_PID" ]]; then kill "$SSHD_PID" 2>/dev/null || true; wait "$SSHD_PID" 2>/dev/null || true; fi
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}
trap cleanup EXIT

# Hermetic git for every client below.
export HOME="$WORK/home" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 LC_ALL=C
mkdir -p "$HOME"
printf '[user]\n\tname = Bench\n\temail = bench@bottle.invalid\n[init]\n\tdefaultBranch = main\n' > "$HOME/.gitconfig"
DIRECT_CFG="$HOME/.gitconfig"
AGENT_CFG="$WORK/agent.gitconfig"

# Bash's own clock: starting python for each timestamp added ~25 ms to
# every timed command, direct and gated alike, which pulled ratios towards 1.
now() { echo "$EPOCHREALTIME"; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
median() { python3 -c 'import sys, statistics; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }

log() { echo "== $*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LOAD_START=$(loadavg)

log "generating upstream: $COMMITS commits x $BYTES_PER_COMMIT bytes"
UP="$WORK/upstream.git"
git init -q --bare -b main "$UP"
python3 "$HERE/gen.py" history "$COMMITS" "$BYTES_PER_COMMIT" | git -C "$UP" fast-import --quiet
git -C "$UP" repack -a -d -q
UP_PACK_BYTES=$(du -cb "$UP"/objects/pack/*.pack | tail -1 | cut -f1)
UP_COMMITS=$(git -C "$UP" rev-list --count main)
log "upstream: $UP_COMMITS commits, pack $(mib "$UP_PACK_BYTES") MiB"

# The same repository over ssh: a real sshd on loopback, as in the tests
# (crates/bottle-testkit/src/sshd.rs), with the same client options for
# the direct fetches as the gate uses for its own.
if [[ "$SSH" == 1 ]]; then
  [[ -x "$SSHD" ]] || { echo "no $SSHD: apt-get install -y openssh-server (or SSH=0)" >&2; exit 1; }
  SD="$WORK/sshd"; mkdir -p "$SD"
  ssh-keygen -q -t ed25519 -N '' -C '' -f "$SD/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C '' -f "$SD/client_ed25519"
  cut -d' ' -f1,2 "$SD/client_ed25519.pub" > "$SD/authorized_keys"
  SSH_USER=$(id -un)
  [[ "$SSH_USER" != root || -d /run/sshd ]] || mkdir -p /run/sshd
  SSH_PORT=$(free_port)
  cat > "$SD/sshd_config" <<CFG
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $SD/host_ed25519
PidFile none
AuthorizedKeysFile $SD/authorized_keys
AllowUsers $SSH_USER
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AcceptEnv GIT_PROTOCOL
UseDNS no
PrintMotd no
MaxStartups 100
MaxSessions 100
CFG
  "$SSHD" -D -e -f "$SD/sshd_config" 2>"$SD/sshd.log" &
  SSHD_PID=$!
  for _ in $(seq 100); do
    python3 -c "import socket; s=socket.create_connection(('127.0.0.1', $SSH_PORT), 1); assert s.recv(8).startswith(b'SSH-')" 2>/dev/null && break
    sleep 0.1
  done
  SSH_URL="ssh://$SSH_USER@127.0.0.1:$SSH_PORT$UP"
  HOST_KEY=$(cut -d' ' -f1,2 "$SD/host_ed25519.pub")
  echo "[127.0.0.1]:$SSH_PORT $HOST_KEY" > "$SD/known_hosts"
  # What the gate runs (gitenv.rs ssh_command), with the client's key.
  export GIT_SSH_COMMAND="ssh -F /dev/null -i $SD/client_ed25519 -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$SD/known_hosts -o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o UpdateHostKeys=no -o CheckHostIP=no"
  git ls-remote "$SSH_URL" >/dev/null || { cat "$SD/sshd.log" >&2; echo "ssh to the loopback sshd failed" >&2; exit 1; }
fi

PORT=$(free_port)
cat > "$WORK/gate.toml" <<TOML
listen = "127.0.0.1:$PORT"
bottle = "bench"
data_dir = "$WORK/gate-data"
audit = { file = "$WORK/audit.jsonl" }

[[remotes]]
name = "origin"
upstream = "file://$UP"
TOML
if [[ "$SSH" == 1 ]]; then
  cat >> "$WORK/gate.toml" <<TOML

[[remotes]]
name = "sshorigin"
upstream = "$SSH_URL"
identity_file = "$SD/client_ed25519"
known_host_key = "$HOST_KEY"
TOML
fi
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

clone_time() { # fn dest [url]
  local t0 t1
  rm -rf "$2"
  t0=$(now); "$1" clone -q --no-checkout "${3:-file://$UP}" "$2"; t1=$(now)
  elapsed "$t0" "$t1"
}
wait_bitmap() { # mirror name: the gate repacks a fresh mirror in the background
  for _ in $(seq 600); do
    ls "$WORK"/gate-data/mirrors/"$1".git/objects/pack/*.bitmap >/dev/null 2>&1 && return
    sleep 0.1
  done
}

log "clone through the gate, cold (the mirror is created inside this request)"
COLD=$(clone_time gated "$WORK/cold")
# The gate repacks a fresh mirror (bitmaps) in the background after serving;
# let it finish, as it would have long before the next clone in real use.
wait_bitmap origin
direct_clones=(); gate_clones=()
for i in $(seq "$RUNS"); do
  log "clone run $i"
  direct_clones+=("$(clone_time direct "$WORK/direct-clone")")
  gate_clones+=("$(clone_time gated "$WORK/gate-clone")")
done
D_CLONE=$(median "${direct_clones[@]}"); G_CLONE=$(median "${gate_clones[@]}")
if [[ "$SSH" == 1 ]]; then
  log "ssh: clone through the gate, cold"
  SSH_COLD=$(clone_time gated "$WORK/cold-ssh" "$SSH_URL")
  wait_bitmap sshorigin
  sd_clones=(); sg_clones=()
  for i in $(seq "$RUNS"); do
    log "ssh clone run $i"
    sd_clones+=("$(clone_time direct "$WORK/direct-clone" "$SSH_URL")")
    sg_clones+=("$(clone_time gated "$WORK/gate-clone" "$SSH_URL")")
  done
  SD_CLONE=$(median "${sd_clones[@]}"); SG_CLONE=$(median "${sg_clones[@]}")
fi
rm -rf "$WORK/direct-clone" "$WORK/gate-clone" "$WORK/cold" "$WORK/cold-ssh"

# Fetch: the upstream gains 100 commits (about 2 MiB) before each round,
# and one direct and one gated client fetch them, direct first in odd
# rounds and the gate first in even ones. The file:// rounds run first, then
# the ssh rounds (interleaving them made the later file:// rounds slower for
# both clients, from the ssh side's leftover work, and flattered the ratio).
rm -rf "$WORK/df" "$WORK/gf" "$WORK/sdf" "$WORK/sgf"
direct clone -q --no-checkout "file://$UP" "$WORK/df"
gated clone -q --no-checkout "file://$UP" "$WORK/gf"
if [[ "$SSH" == 1 ]]; then
  direct clone -q --no-checkout "$SSH_URL" "$WORK/sdf"
  gated clone -q --no-checkout "$SSH_URL" "$WORK/sgf"
fi
fetch_time() { # fn dir
  local t0 t1
  t0=$(now); "$1" -C "$2" fetch -q origin; t1=$(now)
  elapsed "$t0" "$t1"
}
direct_fetches=(); gate_fetches=(); sd_fetches=(); sg_fetches=()
fetch_rounds() { # direct-dir gated-dir direct-array gate-array
  local -n dts=$3 gts=$4
  local i tip
  for i in $(seq "$FETCH_RUNS"); do
    log "fetch run $i ($1 / $2)"
    tip=$(git -C "$UP" rev-parse main)
    python3 "$HERE/gen.py" history 100 "$BYTES_PER_COMMIT" main "$tip" "$(git -C "$UP" log -1 --format=%ct main)" \
      | git -C "$UP" fast-import --quiet --force
    if (( i % 2 )); then
      dts+=("$(fetch_time direct "$WORK/$1")"); gts+=("$(fetch_time gated "$WORK/$2")")
    else
      gts+=("$(fetch_time gated "$WORK/$2")"); dts+=("$(fetch_time direct "$WORK/$1")")
    fi
    [[ "$(git -C "$WORK/$2" rev-parse origin/main)" == "$(git -C "$UP" rev-parse main)" ]] \
      || { echo "gate fetch ($2) is stale" >&2; exit 1; }
  done
}
fetch_rounds df gf direct_fetches gate_fetches
[[ "$SSH" != 1 ]] || fetch_rounds sdf sgf sd_fetches sg_fetches
D_FETCH=$(median "${direct_fetches[@]}"); G_FETCH=$(median "${gate_fetches[@]}")
# How much of a gate fetch was the refresh (upstream -> mirror), from the
# audit log: the requests that brought new refs.
refresh_of() { # remote
  python3 - "$WORK/audit.jsonl" "$FETCH_RUNS" "$1" <<'PY'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ms = [r["duration_ms"] for r in recs if r["event"] == "fetch" and r["refs"] and r["remote"] == sys.argv[3]][-int(sys.argv[2]):]
print(f"{statistics.median(ms) / 1000:.3f}")
PY
}
REFRESH=$(refresh_of origin)

# No-op fetch: nothing new upstream (the cost of the refresh round trip).
noop() { # fn dir: median of 3
  local a b c
  a=$(fetch_time "$1" "$2"); b=$(fetch_time "$1" "$2"); c=$(fetch_time "$1" "$2")
  median "$a" "$b" "$c"
}
D_NOOP=$(noop direct "$WORK/df"); G_NOOP=$(noop gated "$WORK/gf")
if [[ "$SSH" == 1 ]]; then
  SD_FETCH=$(median "${sd_fetches[@]}"); SG_FETCH=$(median "${sg_fetches[@]}")
  SREFRESH=$(refresh_of sshorigin)
  SD_NOOP=$(noop direct "$WORK/sdf"); SG_NOOP=$(noop gated "$WORK/sgf")
fi

log "push: $PUSH_COMMITS new commits x $PUSH_BYTES bytes of added lines"
rm -rf "$WORK/pw" "$WORK/pd" "$WORK/up-direct.git"
gated clone -q --no-checkout "file://$UP" "$WORK/pw"
tip=$(git -C "$WORK/pw" rev-parse HEAD)
python3 "$HERE/gen.py" push "$PUSH_COMMITS" "$PUSH_BYTES" main "$tip" "$(git -C "$WORK/pw" log -1 --format=%ct "$tip")" \
  | git -C "$WORK/pw" fast-import --quiet --force
ADDED_BYTES=$(git -C "$WORK/pw" log -p --format= "$tip..main" | grep '^+' | grep -v '^+++' | wc -c)
# The same push straight to a copy of the upstream, for comparison.
cp -r "$UP" "$WORK/up-direct.git"
t0=$(now); direct -C "$WORK/pw" push -q "file://$WORK/up-direct.git" main; t1=$(now); D_PUSH=$(elapsed "$t0" "$t1")
t0=$(now); gated -C "$WORK/pw" push origin main 2>"$WORK/push.err"; t1=$(now); G_PUSH=$(elapsed "$t0" "$t1")
[[ "$(git -C "$UP" rev-parse main)" == "$(git -C "$WORK/pw" rev-parse main)" ]] || { cat "$WORK/push.err" >&2; echo "push did not land" >&2; exit 1; }
SCAN_S=$(sed -n 's/.*scanned .* in \([0-9.]*\)s: no secrets found.*/\1/p' "$WORK/push.err" | head -1)
SCAN_RATE=$(python3 -c "print(f'{$ADDED_BYTES / 1048576 / $SCAN_S:.0f}' if $SCAN_S > 0 else 'n/a (too fast to time)')")

LOAD_END=$(loadavg)
SSH_ROUNDS=""
[[ "$SSH" != 1 ]] || SSH_ROUNDS="; \`ssh://\` ${sd_fetches[*]} / ${sg_fetches[*]}"
cat <<MD
Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(git --version), $(ssh -V 2>&1 | cut -d, -f1), $(date -u +%Y-%m-%d); load average $LOAD_START at the start, $LOAD_END at the end.
Upstream: $UP_COMMITS commits, $(mib "$UP_PACK_BYTES") MiB pack; gate on 127.0.0.1. Clones: median of $RUNS runs, \`git clone --no-checkout\`; fetches: median of $FETCH_RUNS rounds.

| operation | direct | through the gate | ratio |
| --- | ---: | ---: | ---: |
| clone, \`file://\` upstream (mirror already created) | ${D_CLONE} s | ${G_CLONE} s | $(ratio "$G_CLONE" "$D_CLONE")x |
| clone, \`file://\`, first ever (mirror created in the request) | ${D_CLONE} s | ${COLD} s | $(ratio "$COLD" "$D_CLONE")x |
| fetch of 100 new commits (~$(mib $((100 * BYTES_PER_COMMIT))) MiB), \`file://\` | ${D_FETCH} s | ${G_FETCH} s (refresh ${REFRESH} s) | $(ratio "$G_FETCH" "$D_FETCH")x |
| fetch, nothing new, \`file://\` | ${D_NOOP} s | ${G_NOOP} s | $(ratio "$G_NOOP" "$D_NOOP")x |
MD
if [[ "$SSH" == 1 ]]; then
cat <<MD
| clone, \`ssh://\` upstream (mirror already created) | ${SD_CLONE} s | ${SG_CLONE} s | $(ratio "$SG_CLONE" "$SD_CLONE")x |
| clone, \`ssh://\`, first ever | ${SD_CLONE} s | ${SSH_COLD} s | $(ratio "$SSH_COLD" "$SD_CLONE")x |
| fetch of 100 new commits, \`ssh://\` | ${SD_FETCH} s | ${SG_FETCH} s (refresh ${SREFRESH} s) | $(ratio "$SG_FETCH" "$SD_FETCH")x |
| fetch, nothing new, \`ssh://\` | ${SD_NOOP} s | ${SG_NOOP} s | $(ratio "$SG_NOOP" "$SD_NOOP")x |
MD
fi
cat <<MD
| push of $PUSH_COMMITS new commits, $(mib "$ADDED_BYTES") MiB of added lines (\`file://\`) | ${D_PUSH} s | ${G_PUSH} s | $(ratio "$G_PUSH" "$D_PUSH")x |

Push scan (inside the gate's pre-receive hook, as it reports): ${SCAN_S} s for $(mib "$ADDED_BYTES") MiB of added lines = **${SCAN_RATE} MiB/s**.

Fetch rounds (s), direct / gate: \`file://\` ${direct_fetches[*]} / ${gate_fetches[*]}$SSH_ROUNDS
MD
