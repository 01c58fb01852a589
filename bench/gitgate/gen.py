#!/usr/bin/env python3
"""Write a git fast-import stream to stdout.

Usage: gen.py history COMMITS BYTES_PER_COMMIT [BRANCH] [PARENT_SHA [PARENT_TIME]]
       gen.py push COMMITS BYTES_PER_COMMIT BRANCH PARENT_SHA [PARENT_TIME]

history: COMMITS commits, each adding one new file of BYTES_PER_COMMIT bytes
of random hex text (so the repository does not compress away) and editing
a shared file. push: COMMITS commits of code-like text (what an agent
writes), on top of PARENT_SHA, for the push benchmark. Deterministic.
Commit times go up by a minute per commit from PARENT_TIME (the parent's
committer time, epoch seconds): new commits must not look older than their
parents, or git's negotiation cannot stop early (upload-pack's "ready"
walks down to the oldest "have" by date) and every fetch pays an extra
round.
"""
import random
import sys

WORDS = ("alpha beta gamma delta epsilon zeta theta iota kappa lambda sigma omega "
         "render parse config value buffer socket handle index offset length result").split()


def hex_text(rng, size):
    out = []
    n = 0
    while n < size:
        line = rng.getrandbits(256).to_bytes(32, "big").hex() + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()


def code_text(rng, size, seed):
    out = []
    n = 0
    i = 0
    while n < size:
        w1, w2, w3 = rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS)
        line = f"    let {w1}_{seed}_{i} = {w2}::{w3}({i}, \"{w1} {w2}\", {rng.randint(0, 99999)});\n"
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out).encode()


def blob(w, data):
    w(b"data %d\n" % len(data))
    w(data)
    w(b"\n")


def main():
    mode = sys.argv[1]
    commits = int(sys.argv[2])
    size = int(sys.argv[3])
    branch = sys.argv[4] if len(sys.argv) > 4 else "main"
    parent = sys.argv[5] if len(sys.argv) > 5 else None
    rng = random.Random(f"{mode}-{commits}-{size}-{parent}")
    out = sys.stdout.buffer
    w = out.write
    t = int(sys.argv[6]) if len(sys.argv) > 6 else 1700000000
    for c in range(commits):
        t += 60
        w(b"commit refs/heads/%s\n" % branch.encode())
        w(b"committer Bench <bench@bottle.invalid> %d +0000\n" % t)
        blob(w, b"%s commit %d\n" % (mode.encode(), c))
        if c == 0 and parent:
            w(b"from %s\n" % parent.encode())
        if mode == "history":
            w(b"M 100644 inline data/%05d.txt\n" % c)
            blob(w, hex_text(rng, size))
            w(b"M 100644 inline CHANGELOG\n")
            blob(w, b"entry %d\n" % c)
        else:
            w(b"M 100644 inline src/gen/m%05d.rs\n" % c)
            blob(w, code_text(rng, size, c))
        w(b"\n")
    out.flush()


if __name__ == "__main__":
    main()
