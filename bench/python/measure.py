#!/usr/bin/env python3
"""measure.py: run one command, report its wall time and max RSS.

    measure.py CMD [ARG...]

Starts CMD (usually `env ... /usr/bin/python3 workload.py`; env execs, so
the measured process is the interpreter), reads its stdout, reaps it with
os.wait4 and prints one line:

    wall_s=S cpu_s=C maxrss_kb=K rc=N || <CMD's stdout, lines joined by ' ; '>

cpu_s is the child's user + system time and maxrss_kb its ru_maxrss
(Linux reports KiB), both from the rusage of that one child.  rc is the
exit status, or 128+signal when the child was killed.  CMD's stderr is
passed through.  This helper's own exit status is 0 whenever it could
start CMD; the caller checks rc.
"""
import os
import subprocess
import sys
import time


def main():
    cmd = sys.argv[1:]
    if not cmd:
        sys.exit("measure.py: no command")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = p.stdout.read()
    p.stdout.close()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = 0  # reaped here; keep Popen from waiting again
    if os.WIFSIGNALED(status):
        rc = 128 + os.WTERMSIG(status)
    else:
        rc = os.WEXITSTATUS(status)
    text = " ; ".join(line.strip() for line in out.decode(errors="replace").splitlines()
                      if line.strip())
    print("wall_s=%.4f cpu_s=%.4f maxrss_kb=%d rc=%d || %s"
          % (wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, rc, text))


if __name__ == "__main__":
    main()
