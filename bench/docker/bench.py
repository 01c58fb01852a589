#!/usr/bin/env python3
"""Bottles on Docker: launch overhead, teardown time, time to the first prompt.

    python3 bench/docker/bench.py [--bottle PATH] [--runs N]

Measures, with warm images (the script builds them first):
  * `bottle run --yes -- true` against `docker run --rm <the same agent image> true`
    (wall time of the whole command, teardown included);
  * teardown: from the agent's exit to `bottle run` returning (from the
    timestamps of `bottle run -v`'s "tearing down" / "torn down" lines);
  * `bottle start`: from the command to the first byte of the agent's shell
    prompt, on a pseudo-terminal, then exit.

Needs a Docker Engine, the `docker` CLI (for the baseline only) and the
bottle base image (`bottle image bootstrap`). Prints a Markdown table.
"""
import argparse
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time

MANIFEST = """default_agent = "bench"
[bottles.b]
[bottles.b.egress]
allowlist = ["example.invalid"]
defaults = false
[agents.bench]
bottle = "b"
preset = "shell"
"""


def timed(cmd, env, cwd):
    t = time.monotonic()
    subprocess.run(cmd, env=env, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def teardown_time(bottle, env, cwd):
    """Seconds between "tearing down" and "torn down" in `run -v`."""
    p = subprocess.Popen([bottle, "run", "--yes", "-v", "--", "true"], env=env, cwd=cwd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marks = {}
    for line in p.stderr:
        text = line.decode().strip()
        if text in ("bottle: tearing down", "bottle: torn down"):
            marks[text] = time.monotonic()
    if p.wait() != 0:
        raise SystemExit("bottle run failed")
    return marks["bottle: torn down"] - marks["bottle: tearing down"]


def first_prompt(bottle, env, cwd):
    """Seconds from `bottle start` to the first byte of bash's prompt."""
    t = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execve(bottle, [bottle, "start", "--yes"], env)
    seen = b""
    prompt_at = None
    deadline = t + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        # The preflight comes first; the prompt is bash's "$ " after it.
        if prompt_at is None and b"bottle@" in seen and seen.rstrip().endswith(b"$"):
            prompt_at = time.monotonic()
            os.write(fd, b"exit\r")
    os.waitpid(pid, 0)
    os.close(fd)
    if prompt_at is None:
        raise SystemExit("no prompt seen: %r" % seen[-400:])
    return prompt_at - t


def stats(xs):
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return statistics.median(xs), p90


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bottle", default=os.path.join(os.path.dirname(__file__), "../../target/x86_64-unknown-linux-gnu/release/bottle"))
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    bottle = os.path.abspath(a.bottle)
    work = tempfile.mkdtemp(prefix="bottle-bench-")
    with open(os.path.join(work, "bottle.toml"), "w") as f:
        f.write(MANIFEST)
    env = dict(os.environ, BOTTLE_CONFIG_DIR=os.path.join(work, "user"),
               BOTTLE_STATE_DIR=os.path.join(work, "state"), TERM="xterm")
    os.makedirs(env["BOTTLE_CONFIG_DIR"], exist_ok=True)

    # Warm: images built, caches filled.
    subprocess.run([bottle, "image", "build"], env=env, check=True, stdout=subprocess.DEVNULL)
    for _ in range(2):
        timed([bottle, "run", "--yes", "--", "true"], env, work)
        timed(["docker", "run", "--rm", "bottle/agent-shell:latest", "true"], env, work)

    b_run, d_run, tear, prompt = [], [], [], []
    for _ in range(a.runs):
        # Interleave so both see the same machine load.
        b_run.append(timed([bottle, "run", "--yes", "--", "true"], env, work))
        d_run.append(timed(["docker", "run", "--rm", "bottle/agent-shell:latest", "true"], env, work))
    for _ in range(max(5, a.runs // 2)):
        tear.append(teardown_time(bottle, env, work))
        prompt.append(first_prompt(bottle, env, work))

    rows = [
        ("`bottle run --yes -- true`", stats(b_run)),
        ("`docker run --rm bottle/agent-shell true`", stats(d_run)),
        ("teardown (agent exit → `bottle run` returns)", stats(tear)),
        ("`bottle start`: command → first shell prompt", stats(prompt)),
    ]
    print("| measurement | median | p90 |")
    print("|---|---|---|")
    for name, (med, p90) in rows:
        print(f"| {name} | {med*1000:.0f} ms | {p90*1000:.0f} ms |")
    print()
    print(f"ratio bottle run / docker run (medians): {stats(b_run)[0] / stats(d_run)[0]:.2f}x "
          f"over {a.runs} interleaved runs; load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
