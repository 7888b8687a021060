"""The cluster data plane with real processes: 3 nodes x 4 drives make one erasure set of
12 (4 shards per node), metadata replicated over the same nodes. Clients write through one
node and read through the others bit-exact (aws-cli multipart of 200 MiB included); kill -9
of a node under a mixed load loses nothing and heal brings its shards back (checked on its
folders); two nodes down give clear errors and the cluster recovers; a partitioned node
serves no stale data and makes nothing durable; a second pool of nodes takes new objects
while the first keeps serving the old ones."""

import hashlib
import json
import os
import random
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from cluster_data import DataCluster, Partition


def sha(b):
    return hashlib.sha256(b).hexdigest()


def ready(node):
    try:
        with urllib.request.urlopen(node.endpoint + "/health/ready", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


@pytest.fixture
def cluster():
    c = DataCluster().start()
    try:
        yield c
    finally:
        c.cleanup()


def test_write_through_one_node_read_through_the_others(cluster):
    n1, n2, n3 = cluster.nodes
    n1.aws("s3", "mb", "s3://spread")
    big = os.path.join(cluster.tmp, "big.bin")
    with open(big, "wb") as f:
        for _ in range(25):
            f.write(os.urandom(8 << 20))
    with open(big, "rb") as f:
        big_sha = hashlib.sha256(f.read()).hexdigest()
    n1.aws("s3", "cp", "--only-show-errors", big, "s3://spread/big/200MiB.bin")
    bodies = {f"obj/{i}": os.urandom(n) for i, n in enumerate([10, 100 << 10, 300 << 10, (3 << 20) + 17, 9 << 20])}
    s3_2 = n2.client()
    for k, b in bodies.items():
        s3_2.put_object(Bucket="spread", Key=k, Body=b)

    # aws-cli through node 3 reads the multipart object bit-exact; boto3 through node 1 and 3.
    back = os.path.join(cluster.tmp, "back.bin")
    n3.aws("s3", "cp", "--only-show-errors", "s3://spread/big/200MiB.bin", back)
    with open(back, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == big_sha
    os.remove(back)
    head = n3.client().head_object(Bucket="spread", Key="big/200MiB.bin")
    assert head["ContentLength"] == 200 << 20 and head["ETag"].endswith('-25"'), head
    for n in (n1, n3):
        s3 = n.client()
        for k, b in bodies.items():
            assert sha(s3.get_object(Bucket="spread", Key=k)["Body"].read()) == sha(b), (n.host, k)
        r = s3.get_object(Bucket="spread", Key="obj/3", Range="bytes=1048570-2097160")["Body"].read()
        assert r == bodies["obj/3"][1048570:2097161]
    listed = [o["Key"] for o in n3.client().list_objects_v2(Bucket="spread")["Contents"]]
    assert listed == sorted(["big/200MiB.bin", *bodies])

    # Every drive of every node holds one shard of each erasure-coded part: 25 + 4.
    for i in range(3):
        for files in cluster.shard_files(i):
            assert len(files) == 25 + 3, (i, len(files))
    info = cluster.info(n2)
    assert [n["node"] for n in info["nodes"]] == [f"{h}:{cluster.port}" for h in cluster.hosts]
    assert all(n["state"] == "online" and n["drives_online"] == 4 for n in info["nodes"]), info["nodes"]
    assert [n["this_node"] for n in info["nodes"]] == [False, True, False]
    assert len(info["drives"]) == 12 and all(d["state"] == "online" for d in info["drives"])
    text = n2.admin("info").stdout.decode()
    assert "nodes:" in text and f"127.0.0.3:{cluster.port}" in text and "(this node)" in text, text


def test_kill9_of_a_node_under_load_then_heal_restores_its_shards(cluster):
    n1, n2, n3 = cluster.nodes
    n1.client().create_bucket(Bucket="load")
    acked = {}
    lock = threading.Lock()
    wrong, write_errors, read_ok = [], [], [0]
    stop = threading.Event()

    def writer(node, w):
        s3 = node.client()
        i = 0
        while not stop.is_set():
            key = f"w{w}/{i:05d}"
            body = os.urandom(random.choice([200 << 10, 600 << 10, (1 << 20) + 3]))
            try:
                s3.put_object(Bucket="load", Key=key, Body=body)
                with lock:
                    acked[key] = sha(body)
            except Exception as e:  # an error is allowed while the cluster notices; wrong data never
                write_errors.append((time.time(), repr(e)))
            i += 1

    def reader(node):
        s3 = node.client()
        while not stop.is_set():
            with lock:
                keys = list(acked)
            if not keys:
                time.sleep(0.05)
                continue
            k = random.choice(keys)
            try:
                got = sha(s3.get_object(Bucket="load", Key=k)["Body"].read())
            except Exception:
                continue  # node 3's readers fail once it is gone
            if got != acked[k]:
                wrong.append(k)
            else:
                read_ok[0] += 1

    threads = [threading.Thread(target=writer, args=(n, w), daemon=True) for w, n in enumerate([n1, n2])]
    threads += [threading.Thread(target=reader, args=(n,), daemon=True) for n in (n1, n2, n3)]
    for t in threads:
        t.start()
    time.sleep(3)
    before = len(acked)
    n3.kill9()
    killed = time.time()
    time.sleep(8)
    during = len(acked)
    stop.set()
    for t in threads:
        t.join(60)
    assert not wrong, wrong[:5]
    assert before > 5 and during > before + 5, (before, during, write_errors[-3:])
    late = [e for t, e in write_errors if t > killed + 4]
    assert not late, late[:3]

    # Node 3 comes back: the leader's heal walk restores what it missed, on its folders.
    n3.start()
    report = cluster.wait_heal_done(n1)
    assert report["objects_failed"] == 0 and report["shards_healed"] > 0, report
    reference = cluster.shard_files(0)[0]
    for i in range(3):
        for files in cluster.shard_files(i):
            assert files == reference, f"node {i + 1} drive differs"
    assert len(reference) >= len(acked)
    # Nothing left to do, and node 3 serves every object bit-exact.
    again = json.loads(n3.admin("--json", "heal").stdout)
    assert again["shards_healed"] == 0 and again["objects_failed"] == 0, again
    s3 = n3.client()
    for k, d in acked.items():
        assert sha(s3.get_object(Bucket="load", Key=k)["Body"].read()) == d, k
    status = n2.admin("heal", "status").stdout.decode()
    assert "finished" in status and "0 failed" in status, status


def test_two_nodes_down_give_clear_errors_and_the_cluster_recovers(cluster):
    n1, n2, n3 = cluster.nodes
    s3 = n1.client()
    s3.create_bucket(Bucket="quorum")
    body = os.urandom(1 << 20)
    s3.put_object(Bucket="quorum", Key="before", Body=body)
    n2.kill9()
    n3.kill9()
    for call in (lambda: s3.put_object(Bucket="quorum", Key="during", Body=b"x" * (200 << 10)),
                 lambda: s3.get_object(Bucket="quorum", Key="before")["Body"].read()):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.value.response
        assert e.value.response["Error"]["Code"] in ("SlowDown", "ServiceUnavailable")
    code, text = ready(n1)
    assert code == 503 and text.startswith("not ready: "), (code, text)
    n2.start(wait=False)
    n3.start(wait=False)
    for n in cluster.nodes:
        n.wait_ready(timeout=90)
    assert sha(n3.client().get_object(Bucket="quorum", Key="before")["Body"].read()) == sha(body)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        n2.client().head_object(Bucket="quorum", Key="during")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    n2.client().put_object(Bucket="quorum", Key="after", Body=body)
    assert sha(n1.client().get_object(Bucket="quorum", Key="after")["Body"].read()) == sha(body)


def test_a_partitioned_node_serves_no_stale_data_and_makes_nothing_durable(cluster):
    if shutil.which("iptables") is None:
        pytest.fail("this test needs iptables (Debian package iptables; .ci/run installs it)")
    n1, n2, n3 = cluster.nodes
    s3_1, s3_3 = n1.client(), n3.client()
    s3_1.create_bucket(Bucket="split")
    old = os.urandom(300 << 10)
    s3_1.put_object(Bucket="split", Key="k", Body=old)
    assert sha(s3_3.get_object(Bucket="split", Key="k")["Body"].read()) == sha(old)
    with Partition(cluster, 2) as cut:
        new = os.urandom(300 << 10)
        deadline = time.time() + 30
        while True:  # the majority side goes on (after an election if node 3 led)
            try:
                s3_1.put_object(Bucket="split", Key="k", Body=new)
                break
            except botocore.exceptions.ClientError:
                assert time.time() < deadline
                time.sleep(0.5)
        # Node 3 never answers with the old bytes: it cannot confirm them (each attempt waits
        # its bound, 5 election timeouts, before 503).
        try:
            got = s3_3.get_object(Bucket="split", Key="k")["Body"].read()
            assert sha(got) == sha(new), "stale read from the partitioned node"
        except botocore.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.response
        for body in (b"tiny", os.urandom(400 << 10)):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                s3_3.put_object(Bucket="split", Key=f"isolated-{len(body)}", Body=body)
            assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        code, _ = ready(n3)
        assert code == 503
        cut.heal()
        n3.wait_ready(timeout=60)
    assert sha(s3_3.get_object(Bucket="split", Key="k")["Body"].read()) == sha(new)
    keys = [o["Key"] for o in s3_3.list_objects_v2(Bucket="split")["Contents"]]
    assert keys == ["k"], keys


def test_a_second_pool_takes_new_objects_and_the_first_keeps_the_old():
    c = DataCluster(pools=(3, 3))
    # Start with the first pool only.
    first = [c._server(i, pools=[3]) for i in range(3)]
    c.nodes = first
    try:
        c.start()
        s3 = first[0].client()
        s3.create_bucket(Bucket="grow")
        old = {f"old/{i}": os.urandom(200 << 10) for i in range(20)}
        for k, b in old.items():
            s3.put_object(Bucket="grow", Key=k, Body=b)
        # The new pool's nodes join the metadata group; every node runs with both pools.
        for s in first:
            s.stop()
        c.nodes = [c._server(i) for i in range(6)]
        for s in c.nodes[3:]:
            s.env["RUSTFS_JOIN"] = "true"
        for s in c.nodes:
            s.start(wait=False)
        for s in c.nodes[:3]:
            s.wait_ready(timeout=90)
        for i in range(4, 7):
            out = c.nodes[0].admin("metadata", "add-node", "--id", str(i), "--address", f"127.0.0.{i}:{c.internode}").stdout.decode()
            assert f"node {i} is a voter" in out, out
        for s in c.nodes[3:]:
            s.wait_ready(timeout=90)
        info = c.info(c.nodes[4])
        assert info["pools"] == [1, 1] and len(info["nodes"]) == 6, info
        new = {f"new/{i}": os.urandom(200 << 10) for i in range(40)}
        for i, (k, b) in enumerate(new.items()):
            c.nodes[i % 6].client().put_object(Bucket="grow", Key=k, Body=b)
        for n in (c.nodes[1], c.nodes[5]):
            s3 = n.client()
            for k, b in {**old, **new}.items():
                assert sha(s3.get_object(Bucket="grow", Key=k)["Body"].read()) == sha(b), (n.host, k)
        in_first = len(c.shard_files(0)[0])
        in_second = len(c.shard_files(3)[0])
        assert in_second > 0 and in_first > len(old), (in_first, in_second)
        assert in_first + in_second == len(old) + len(new)
    finally:
        c.cleanup()
