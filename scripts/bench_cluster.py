#!/usr/bin/env python3
"""Server benchmark of the replicated metadata, on one machine (client and all servers
share it): 4 KiB S3 PUT and GET at c=32 (`rustfs-admin bench`) against one node with a
local KV and against a node of a 3-node group; then the failover time (kill -9 of the
leader to the first successful PUT through a surviving node) over N runs, median and range.

Usage: scripts/bench_cluster.py [seconds per bench, default 8] [failover runs, default 10]
(builds with `cargo build --release --bins` first; `RUSTFS_BIN=path` benchmarks another server
binary instead, to compare two builds)."""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("RUSTFS_BIN") or os.path.join(ROOT, "target/release/rustfs")
ADMIN = os.path.join(ROOT, "target/release/rustfs-admin")
ENV = dict(os.environ, RUSTFS_ACCESS_KEY="bench-access", RUSTFS_SECRET_KEY="bench-secret-key", RUST_LOG="warn")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


class Node:
    def __init__(self, work, env=None):
        self.port = free_port()
        self.data = tempfile.mkdtemp(dir=work)
        self.env = dict(ENV, **(env or {}))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([BIN, "server", "--address", f"127.0.0.1:{self.port}", "--data", self.data],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if ready(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("node not ready")

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def admin(self, *args):
        return subprocess.run([ADMIN, "--endpoint", f"http://127.0.0.1:{self.port}", *args], env=ENV,
                              capture_output=True, check=True).stdout


def bench(node, op, secs):
    out = node.admin("bench", "--json", "--op", op, "--size", "4KiB", "-c", "32", "--duration", str(int(secs)),
                     "--bucket", "b4k", "--objects", "1000")
    return json.loads(out)


def group(work, n=3):
    ports = [free_port() for _ in range(n)]
    peers = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports))
    nodes = [Node(work, {"RUSTFS_NODE_ID": str(i + 1), "RUSTFS_PEERS": peers, "RUSTFS_CLUSTER_SECRET": "bench-cluster-secret"})
             for i in range(n)]
    for x in nodes:
        x.start()
    for x in nodes:
        x.wait()
    return nodes


def leader_of(nodes):
    for x in nodes:
        if x.proc is None or x.proc.poll() is not None:
            continue
        try:
            st = json.loads(x.admin("--json", "metadata", "status"))
        except subprocess.CalledProcessError:
            continue
        if st["leader_id"] and st["leader_id"] == st["node_id"]:
            return x
    return None


def put_ok(node, key):
    p = subprocess.run([ADMIN, "--endpoint", f"http://127.0.0.1:{node.port}", "bench", "--json", "--op", "put", "--size", "1KiB",
                        "-c", "1", "--count", "1", "--bucket", "failover"], env=ENV, capture_output=True)
    if p.returncode != 0:
        return False
    r = json.loads(p.stdout)
    return r["ops"] > 0 and r["errors"] == 0


def main():
    secs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    if not os.environ.get("RUSTFS_BIN"):
        subprocess.run(["cargo", "build", "--release", "--bins", "-q"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="rustfs-bench-cluster-")
    try:
        single = Node(work)
        single.start()
        single.wait()
        res = {"1 node": {op: bench(single, op, secs) for op in ("put", "get")}}
        single.kill9()
        nodes = group(work)
        lead = leader_of(nodes)
        follower = next(x for x in nodes if x is not lead)
        res["3 nodes, via leader"] = {op: bench(lead, op, secs) for op in ("put", "get")}
        res["3 nodes, via follower"] = {op: bench(follower, op, secs) for op in ("put", "get")}
        for name, r in res.items():
            for op, b in r.items():
                print(f"{name:<24} 4KiB {op.upper():<3} c=32  {b['ops_per_sec']:>8.0f} ops/s  p50 {b['p50_ms']:.2f} ms  p99 {b['p99_ms']:.2f} ms")
        ratio = res["3 nodes, via leader"]["put"]["ops_per_sec"] / res["1 node"]["put"]["ops_per_sec"]
        print(f"3-node / 1-node 4KiB PUT throughput: {ratio:.2f}")
        times = []
        for _ in range(runs):
            lead = None
            while lead is None:
                lead = leader_of(nodes)
                time.sleep(0.1)
            others = [x for x in nodes if x is not lead]
            while not put_ok(others[0], "warm"):
                time.sleep(0.1)
            t0 = time.time()
            lead.kill9()
            i = 0
            while not put_ok(others[i % 2], f"after-{i}"):
                i += 1
            times.append(time.time() - t0)
            lead.start()
            lead.wait()
        if times:
            print(f"failover (kill -9 leader -> first acknowledged PUT), {runs} runs: median {statistics.median(times):.2f} s, "
                  f"min {min(times):.2f} s, max {max(times):.2f} s")
        for x in nodes:
            x.kill9()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
