#!/usr/bin/env python3
"""fsync latency of this machine's disk, alone or beside a bulk writer.

Writes 20 KB and fsyncs it every 2 ms, 2,000 times, and prints p50/p99/max of the fsyncs. With
`bulk N SECS`, another thread meanwhile writes N MB and fsyncs every SECS seconds (what a WAL
checkpoint does after a burst). Used in BENCHMARKS.md ("Pickup p99"):

    python3 scripts/fsync-probe.py quiet
    python3 scripts/fsync-probe.py bulk 16 0.1
"""
import os
import sys
import tempfile
import threading
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "quiet"
bulk_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 16
bulk_every = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
workdir = tempfile.mkdtemp(prefix="fsync-probe-")
stop = False


def bulk_writer():
    fd = os.open(os.path.join(workdir, "bulk.dat"), os.O_WRONLY | os.O_CREAT, 0o644)
    chunk = os.urandom(1024 * 1024)
    while not stop:
        for i in range(bulk_mb):
            os.pwrite(fd, chunk, i * len(chunk))
        os.fsync(fd)
        time.sleep(bulk_every)
    os.close(fd)


if mode == "bulk":
    writer = threading.Thread(target=bulk_writer)
    writer.start()
fd = os.open(os.path.join(workdir, "wal.dat"), os.O_WRONLY | os.O_CREAT, 0o644)
frames = os.urandom(4096 * 5)
latencies = []
for i in range(2000):
    t0 = time.perf_counter()
    os.pwrite(fd, frames, (i % 1000) * len(frames))
    os.fsync(fd)
    latencies.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.002)
stop = True
if mode == "bulk":
    writer.join()
os.close(fd)
for name in os.listdir(workdir):
    os.unlink(os.path.join(workdir, name))
os.rmdir(workdir)
latencies.sort()
print(
    "%s: fsync ms p50 %.2f p99 %.2f max %.2f"
    % (mode, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], latencies[-1])
)
