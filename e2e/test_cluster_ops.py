"""Operations of a 3-node metadata group of real `rustfs` processes: a node down while the
log is compacted catches up by snapshot; membership 3 -> 4 -> 3 with a leadership transfer
under a stream of writes, no acknowledged write lost; a node of another cluster id kept
out."""

import json
import os
import threading
import time

import pytest

from conftest import Server, free_port, sha256
from test_cluster_metadata import SECRET, Cluster, ready_text


def node_env(i, peers, **extra):
    env = {"RUSTFS_NODE_ID": str(i), "RUSTFS_PEERS": peers, "RUSTFS_CLUSTER_SECRET": SECRET,
           "RUSTFS_RAFT_ELECTION_TIMEOUT_MS": "500", "RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS": "50"}
    env.update(extra)
    return env


def test_a_node_down_past_compaction_catches_up_by_snapshot():
    c = Cluster()
    for s in c.nodes:
        s.env["RUSTFS_RAFT_MAX_LOG_ENTRIES"] = "32"
    try:
        c.start()
        leader = c.leader()
        down = next(s for s in c.nodes if s is not leader)
        leader.client().create_bucket(Bucket="compact")
        down.kill9()
        bodies = {f"k{i:03}": os.urandom(500 + i) for i in range(150)}
        for k, b in bodies.items():
            leader.client().put_object(Bucket="compact", Key=k, Body=b)
        st = c.status(leader)
        assert st["committed_index"] > 150
        down.start()
        s3 = down.client()
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="compact"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        assert keys == sorted(bodies)
        for k in ["k000", "k077", "k149"]:
            assert sha256(s3.get_object(Bucket="compact", Key=k)["Body"].read()) == sha256(bodies[k])
        assert "snapshot installed" in down.logs(), down.logs()[-2000:]
    finally:
        c.cleanup()


def test_three_to_four_to_three_with_a_transfer_under_writes():
    ports = [free_port() for _ in range(4)]
    peers4 = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports))
    c = Cluster()
    for i, s in enumerate(c.nodes):
        s.env["RUSTFS_PEERS"] = ",".join(f"{j + 1}=127.0.0.1:{ports[j]}" for j in range(3))
    fourth = Server(env=node_env(4, peers4, RUSTFS_JOIN="true"))
    try:
        c.start()
        c.nodes[0].client().create_bucket(Bucket="moves")
        fourth.start(wait=False)
        out = c.nodes[1].admin("metadata", "add-node", "--id", "4", "--address", f"127.0.0.1:{ports[3]}").stdout.decode()
        assert "node 4 is a voter" in out, out
        fourth.wait_ready(timeout=60)
        acked, stop = [], threading.Event()

        def writer(n, w):
            s3 = n.client()
            i = 0
            while not stop.is_set():
                key, body = f"w{w}/{i:05d}", os.urandom(300)
                try:
                    s3.put_object(Bucket="moves", Key=key, Body=body)
                    acked.append((key, sha256(body)))
                except Exception:
                    pass
                i += 1

        threads = [threading.Thread(target=writer, args=(n, w), daemon=True) for w, n in enumerate(c.nodes)]
        for t in threads:
            t.start()
        time.sleep(1)
        r = json.loads(c.nodes[0].admin("--json", "metadata", "transfer-leadership", "--to", "4").stdout)
        assert r["status"]["leader_id"] == 4, r
        time.sleep(1)
        old = c.nodes[2]
        fourth.admin("metadata", "remove-node", "--id", "3")
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join(30)
        assert len(acked) > 50
        st = c.status(fourth)
        assert sorted(m["id"] for m in st["members"]) == [1, 2, 4], st
        code, text = ready_text(old)
        assert code == 503 and "not a member" in text, text
        s3 = fourth.client()
        for key, digest in acked:
            assert sha256(s3.get_object(Bucket="moves", Key=key)["Body"].read()) == digest, key
    finally:
        c.cleanup()
        fourth.cleanup()


def test_a_node_of_another_cluster_is_refused():
    c = Cluster()
    try:
        c.nodes[2].env["RUSTFS_CLUSTER_ID"] = "another-cluster"
        for s in c.nodes:
            s.start(wait=False)
        for s in c.nodes[:2]:
            s.wait_ready(timeout=60)
        time.sleep(2)
        code, _ = ready_text(c.nodes[2])
        assert code == 503
        logs = c.nodes[0].logs() + c.nodes[1].logs()
        assert "another cluster" in logs, logs[-3000:]
    finally:
        c.cleanup()
