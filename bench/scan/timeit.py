#!/usr/bin/env python3
"""Run a command; print wall seconds and peak RSS (KiB) of it as JSON.
usage: timeit.py -- CMD ARGS...  (exit code 0/1 both count as success)"""
import json, resource, subprocess, sys, time
cmd = sys.argv[sys.argv.index("--") + 1:]
t = time.monotonic()
p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.monotonic() - t
if p.returncode not in (0, 1):
    sys.stderr.write(p.stderr.decode(errors="replace"))
    sys.exit(f"{cmd[0]} exited {p.returncode}")
print(json.dumps({"wall": wall, "max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
