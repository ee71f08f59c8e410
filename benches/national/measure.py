"""Runs one command and records its wall time and peak RSS: `python -I -S measure.py RESULT -- CMD...`.

Why a separate launcher: on Linux a child's ru_maxrss starts from the resident size of the process
that spawned it (exec records the old address space's high-water mark), so a command spawned by
the benchmark driver -- which may once have held a large report -- would be charged for the
driver's memory. This launcher is small (a few MB, less than any measured tool), so the figure
it records is the command's own peak. RESULT receives `{"wall": s, "maxrss_kb": n, "oublock": b,
"code": c}` (b: the file-system writes, in 512-byte units, counted as pages are dirtied);
the command's stdout and stderr are the launcher's.
"""
import json
import os
import sys
import time

result, cmd = sys.argv[1], sys.argv[3:]
started = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(result, "w") as f:
    json.dump({"wall": wall, "maxrss_kb": usage.ru_maxrss, "oublock": usage.ru_oublock,
               "code": os.waitstatus_to_exitcode(status)}, f)
