#!/usr/bin/env python3
"""Server benchmark of the cluster data plane, on one machine (client and every server
share its cores): `rustfs-admin bench` PUT and GET of 1 MiB objects (c=8), 64 MiB objects
(c=2) and 4 KiB objects (c=32) against one node with 12 local drives, then against node 1
of a 3-node x 4-drive cluster (8 of every object's 12 shards cross the shard RPC); the
ratios; and (first, on the fresh cluster) the heal rate after a node's return: node 3
killed, objects written without it, node 3 restarted, and the leader's heal walk timed
(objects/s, MiB/s of shards written).

Usage: scripts/bench_cluster_data.py [seconds per bench, default 6] [heal objects of 4 MiB, default 64]
(builds with `cargo build --release --bins` first)."""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "e2e"))

from cluster_data import DataCluster  # noqa: E402
from conftest import Server  # noqa: E402

CASES = [("1MiB", 8, 64), ("64MiB", 2, 8), ("4KiB", 32, 1000)]


def bench(node, op, size, c, objects, secs, bucket):
    out = node.admin("bench", "--json", "--op", op, "--size", size, "-c", str(c), "--duration", str(secs),
                     "--bucket", bucket, "--objects", str(objects)).stdout
    return json.loads(out)


def run_all(node, secs, label):
    res = {}
    for size, c, objects in CASES:
        bucket = f"bench-{size.lower()}"
        put = bench(node, "put", size, c, objects, secs, bucket)
        get = bench(node, "get", size, c, objects, secs, bucket)
        res[size] = (put, get)
        print(f"{label:<22} {size:>6} c={c:<3} PUT {put['mib_per_sec']:8.1f} MiB/s {put['ops_per_sec']:9.0f} op/s"
              f"   GET {get['mib_per_sec']:8.1f} MiB/s {get['ops_per_sec']:9.0f} op/s", flush=True)
    return res


def heal_rate(c, objects):
    n1, _, n3 = c.nodes
    s3 = n1.client()
    s3.create_bucket(Bucket="heal")
    n3.kill9()
    body = os.urandom(4 << 20)
    for i in range(objects):
        s3.put_object(Bucket="heal", Key=f"h/{i}", Body=body)
    n3.start()
    deadline = time.time() + 600
    while time.time() < deadline:
        p = json.loads(n1.admin("--json", "heal", "status", check=False).stdout or b"{}")
        if p.get("finished_ns") and p.get("objects_healed", 0) > 0 and not p.get("wanted"):
            secs = (p["finished_ns"] - p["started_ns"]) / 1e9
            print(f"heal after node 3's return: {p['objects_healed']} objects healed of {p['objects_scanned']} scanned "
                  f"in {secs:.2f} s: {p['objects_healed'] / secs:.1f} objects/s, "
                  f"{p['bytes_healed'] / secs / (1 << 20):.1f} MiB/s of shards written", flush=True)
            return
        time.sleep(0.5)
    raise RuntimeError("the heal walk did not finish")


def main():
    secs = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    heal_objects = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    single = Server(env={"RUST_LOG": "warn"}).start()
    try:
        one = run_all(single, secs, "1 node x 12 drives")
    finally:
        single.cleanup()
    c = DataCluster(env={"RUST_LOG": "warn"}).start()
    try:
        # First, while the heal walk has only these objects to scan.
        heal_rate(c, heal_objects)
        three = run_all(c.nodes[0], secs, "3 nodes x 4 drives")
        for size, _, _ in CASES:
            (p1, g1), (p3, g3) = one[size], three[size]
            print(f"ratio cluster / single {size:>6}: PUT {p3['mib_per_sec'] / p1['mib_per_sec']:.2f}"
                  f"  GET {g3['mib_per_sec'] / g1['mib_per_sec']:.2f}")
    finally:
        c.cleanup()


if __name__ == "__main__":
    main()
