"""A 3-node metadata group of real `rustfs` processes on 127.0.0.1 (Raft over the internode
port, authenticated with the cluster secret): writes through every node, small (inline)
objects read back bit-exact through every node, listings that agree, a node that waits for
its peers and says why, kill -9 of the leader under a stream of writes with no
acknowledged write lost, 503 SlowDown without a majority, a node with a wrong secret
kept out, and the raise of the group's store format (refused while a node is down)."""

import json
import os
import threading
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from conftest import Nodes, Server, free_port, sha256

SECRET = "e2e-cluster-secret"


class Cluster(Nodes):
    def __init__(self, n=3, secret=SECRET, election_ms=500, extra_env=None):
        self.ports = [free_port() for _ in range(n)]
        peers = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(self.ports))
        self.nodes = []
        for i in range(n):
            env = {
                "RUSTFS_NODE_ID": str(i + 1),
                "RUSTFS_PEERS": peers,
                "RUSTFS_CLUSTER_SECRET": secret,
                "RUSTFS_RAFT_ELECTION_TIMEOUT_MS": str(election_ms),
                "RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS": str(election_ms // 10),
                **(extra_env or {}),
            }
            self.nodes.append(Server(env=env))

    def start(self):
        for s in self.nodes:
            s.start(wait=False)
        for s in self.nodes:
            s.wait_ready(timeout=60)
        return self

    def cleanup(self):
        for s in self.nodes:
            s.cleanup()


@pytest.fixture
def cluster():
    c = Cluster().start()
    try:
        yield c
    finally:
        c.cleanup()


def ready_text(srv):
    try:
        with urllib.request.urlopen(srv.endpoint + "/health/ready", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError):
        return None, ""


def test_writes_through_every_node_read_back_everywhere(cluster):
    nodes = cluster.nodes
    nodes[0].client().create_bucket(Bucket="shared")
    bodies = {}
    for i, n in enumerate(nodes):
        for j in range(5):
            key = f"n{i}/obj{j}"
            bodies[key] = os.urandom(1000 + 37 * j)
            n.client().put_object(Bucket="shared", Key=key, Body=bodies[key])
    for n in nodes:
        s3 = n.client()
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="shared")["Contents"]]
        assert listed == sorted(bodies)
        for k, b in bodies.items():
            assert sha256(s3.get_object(Bucket="shared", Key=k)["Body"].read()) == sha256(b), k
    statuses = [cluster.status(n) for n in nodes]
    assert len({s["leader_id"] for s in statuses}) == 1, statuses
    lead = [s for s in statuses if s["leader_id"] == s["node_id"]][0]
    assert sorted(m["id"] for m in lead["members"]) == [1, 2, 3]
    assert all(m["healthy"] for m in lead["members"]), lead
    table = nodes[0].admin("metadata", "status").stdout.decode()
    assert "leader" in table and "term" in table, table
    lag = json.loads(nodes[0].admin("--json", "metadata", "lag").stdout)
    assert sorted(m["id"] for m in lag) == [1, 2, 3]


def test_a_node_waits_for_its_peers_and_says_why():
    c = Cluster()
    try:
        first = c.nodes[0]
        first.start(wait=False)
        deadline = time.time() + 20
        while time.time() < deadline:
            code, text = ready_text(first) if first.proc.poll() is None else (None, "")
            if code == 503:
                break
            time.sleep(0.1)
        assert code == 503 and "leader" in text, (code, text, first.logs())
        # S3 requests are told to come back later, not refused or served.
        with pytest.raises(botocore.exceptions.ClientError) as e:
            first.client().list_buckets()
        assert e.value.response["Error"]["Code"] == "SlowDown"
        for s in c.nodes[1:]:
            s.start(wait=False)
        for s in c.nodes:
            s.wait_ready(timeout=60)
        c.nodes[2].client().create_bucket(Bucket="late")
        assert [b["Name"] for b in first.client().list_buckets()["Buckets"]] == ["late"]
    finally:
        c.cleanup()


def test_kill9_leader_under_writes_loses_nothing(cluster):
    nodes = cluster.nodes
    nodes[0].client().create_bucket(Bucket="steady")
    leader = cluster.leader()
    followers = [n for n in nodes if n is not leader]
    acked, failed = [], []
    stop = threading.Event()

    def writer(n, w):
        s3 = n.client()
        i = 0
        while not stop.is_set():
            key, body = f"w{w}/{i:05d}", os.urandom(200 + i % 500)
            try:
                s3.put_object(Bucket="steady", Key=key, Body=body)
                acked.append((key, sha256(body)))
            except Exception as e:  # the outage window: errors, never wrong data
                failed.append((key, repr(e)))
            i += 1

    threads = [threading.Thread(target=writer, args=(n, w), daemon=True) for w, n in enumerate(followers)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    before = len(acked)
    leader.kill9()
    killed_at = time.time()
    new = cluster.leader(among=followers)
    elected_in = time.time() - killed_at
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(30)
    assert before > 10 and len(acked) > before, (before, len(acked), failed[:3])
    assert elected_in < 10, elected_in
    for n in followers:
        s3 = n.client()
        for key, digest in acked:
            assert sha256(s3.get_object(Bucket="steady", Key=key)["Body"].read()) == digest, key
    # The old leader comes back, catches up and serves the same data.
    leader.start()
    s3 = leader.client()
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="steady"):
        keys.update(o["Key"] for o in page.get("Contents", []))
    assert {k for k, _ in acked} <= keys
    for key, digest in acked[-20:]:
        assert sha256(s3.get_object(Bucket="steady", Key=key)["Body"].read()) == digest
    assert cluster.status(new)["leader_id"] in (1, 2, 3)


def test_without_a_majority_requests_get_slowdown(cluster):
    nodes = cluster.nodes
    nodes[0].client().create_bucket(Bucket="minority")
    for n in nodes[1:]:
        n.kill9()
    s3 = nodes[0].client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket="minority", Key="k", Body=b"x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert e.value.response["Error"]["Code"] in ("SlowDown", "ServiceUnavailable")
    code, text = ready_text(nodes[0])
    assert code == 503, text
    for n in nodes[1:]:
        n.start(wait=False)
    for n in nodes:
        n.wait_ready(timeout=60)
    s3.put_object(Bucket="minority", Key="k2", Body=b"y")
    assert nodes[1].client().get_object(Bucket="minority", Key="k2")["Body"].read() == b"y"


def test_a_node_with_a_wrong_secret_stays_out():
    c = Cluster()
    try:
        c.nodes[2].env["RUSTFS_CLUSTER_SECRET"] = "not-the-secret"
        for s in c.nodes:
            s.start(wait=False)
        for s in c.nodes[:2]:
            s.wait_ready(timeout=60)
        c.nodes[0].client().create_bucket(Bucket="kept-out")
        time.sleep(2)
        code, _ = ready_text(c.nodes[2])
        assert code == 503
        logs = c.nodes[0].logs() + c.nodes[1].logs() + c.nodes[2].logs()
        assert "cluster secret" in logs, logs[-3000:]
        assert "not-the-secret" not in logs and SECRET not in logs
    finally:
        c.cleanup()


def test_a_single_node_becomes_three_with_add_node():
    """Seed FAQ Q4: the single node's KV becomes the first member; add-node brings two more
    up by snapshot; no data copied by hand. Then leadership moves, a snapshot is taken and
    the first node is removed."""
    ports = [free_port() for _ in range(3)]
    peers = ",".join(f"{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports))
    single = Server().start()
    nodes = []
    try:
        s3 = single.client()
        s3.create_bucket(Bucket="grown")
        bodies = {f"k{i}": os.urandom(3000 + i) for i in range(30)}
        for k, b in bodies.items():
            s3.put_object(Bucket="grown", Key=k, Body=b)
        single.stop()
        single.env.update({"RUSTFS_NODE_ID": "1", "RUSTFS_PEERS": f"1=127.0.0.1:{ports[0]}", "RUSTFS_CLUSTER_SECRET": SECRET,
                           "RUSTFS_RAFT_ELECTION_TIMEOUT_MS": "500", "RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS": "50"})
        single.start()
        assert single.client().get_object(Bucket="grown", Key="k3")["Body"].read() == bodies["k3"]
        for i in (2, 3):
            n = Server(env={"RUSTFS_NODE_ID": str(i), "RUSTFS_PEERS": peers, "RUSTFS_JOIN": "true",
                            "RUSTFS_CLUSTER_SECRET": SECRET, "RUSTFS_RAFT_ELECTION_TIMEOUT_MS": "500",
                            "RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS": "50"})
            nodes.append(n)
            n.start(wait=False)
            deadline = time.time() + 20
            code, text = None, ""
            while time.time() < deadline and code != 503:
                code, text = ready_text(n)
                time.sleep(0.1)
            assert code == 503 and "add-node" in text, (code, text)
            out = single.admin("metadata", "add-node", "--id", str(i), "--address", f"127.0.0.1:{ports[i - 1]}").stdout.decode()
            assert f"node {i} is a voter" in out, out
            n.wait_ready(timeout=60)
        everyone = [single] + nodes
        c = Cluster.__new__(Cluster)
        c.nodes = everyone
        st = c.status(nodes[1])
        assert sorted(m["id"] for m in st["members"]) == [1, 2, 3]
        for k, b in bodies.items():
            assert nodes[1].client().get_object(Bucket="grown", Key=k)["Body"].read() == b
        r = json.loads(nodes[0].admin("--json", "metadata", "transfer-leadership", "--to", "3").stdout)
        assert r["status"]["leader_id"] == 3, r
        snap = json.loads(nodes[1].admin("--json", "metadata", "snapshot", "create").stdout)
        assert snap["index"] > 0
        nodes[1].admin("metadata", "remove-node", "--id", "1")
        deadline = time.time() + 20
        while time.time() < deadline and sorted(m["id"] for m in c.status(nodes[1])["members"]) != [2, 3]:
            time.sleep(0.1)
        assert sorted(m["id"] for m in c.status(nodes[1])["members"]) == [2, 3]
        deadline = time.time() + 20
        code, text = None, ""
        while time.time() < deadline and "not a member" not in text:
            code, text = ready_text(single)
            time.sleep(0.1)
        assert code == 503 and "not a member" in text, (code, text)
        nodes[0].client().put_object(Bucket="grown", Key="after", Body=b"two of two")
        assert nodes[1].client().get_object(Bucket="grown", Key="after")["Body"].read() == b"two of two"
        # Bad requests are refused with a reason.
        p = nodes[0].admin("metadata", "add-node", "--id", "0", "--address", "x:1", check=False)
        assert p.returncode != 0
    finally:
        single.cleanup()
        for n in nodes:
            n.cleanup()


class Proxy:
    """A fault-injecting TCP proxy for one direction of one link (node i -> node j): it
    forwards connections until `block()`, which cuts the open ones and refuses new ones."""

    def __init__(self, upstream_port):
        import socket
        self.upstream = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.blocked = False
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        import socket
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.blocked:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream), timeout=2)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    def block(self):
        import socket
        self.blocked = True
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.conns = []

    def heal(self):
        self.blocked = False

    def close(self):
        self.block()
        self.sock.close()


def test_a_partitioned_node_commits_nothing_and_converges_after():
    n = 3
    real = [free_port() for _ in range(n)]
    proxies = {(i, j): Proxy(real[j]) for i in range(n) for j in range(n) if i != j}
    nodes = []
    for i in range(n):
        peers = ",".join(f"{j + 1}=127.0.0.1:{real[j] if j == i else proxies[(i, j)].port}" for j in range(n))
        nodes.append(Server(env={"RUSTFS_NODE_ID": str(i + 1), "RUSTFS_PEERS": peers, "RUSTFS_CLUSTER_SECRET": SECRET,
                                 "RUSTFS_RAFT_ELECTION_TIMEOUT_MS": "500", "RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS": "50"}))
    c = Cluster.__new__(Cluster)
    c.nodes = nodes
    try:
        c.start()
        nodes[0].client().create_bucket(Bucket="split")
        nodes[0].client().put_object(Bucket="split", Key="before", Body=b"1")
        leader = c.leader()
        iso = nodes.index(leader)
        rest = [x for x in range(n) if x != iso]
        for (i, j), p in proxies.items():
            if iso in (i, j):
                p.block()
        # The isolated (old leader) node: its writes fail, its commit index stays put.
        committed = c.status(nodes[iso])["committed_index"]
        with pytest.raises(botocore.exceptions.ClientError) as e:
            nodes[iso].client().put_object(Bucket="split", Key="isolated", Body=b"never")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert c.status(nodes[iso])["committed_index"] == committed
        # The majority elects a leader and goes on.
        new = c.leader(among=[nodes[x] for x in rest])
        assert new is not nodes[iso]
        for k in range(20):
            nodes[rest[k % 2]].client().put_object(Bucket="split", Key=f"majority/{k}", Body=str(k).encode())
        code, text = ready_text(nodes[iso])
        assert code == 503, text
        assert c.status(nodes[iso])["committed_index"] == committed
        # Healed: the node converges on the majority's history (its lone write never commits).
        for p in proxies.values():
            p.heal()
        nodes[iso].wait_ready(timeout=60)
        s3 = nodes[iso].client()
        got = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="split")["Contents"])
        assert got == sorted(["before"] + [f"majority/{k}" for k in range(20)]), got
        assert s3.get_object(Bucket="split", Key="majority/19")["Body"].read() == b"19"
        statuses = [c.status(x) for x in nodes]
        assert len({s["leader_id"] for s in statuses}) == 1, statuses
    finally:
        for p in proxies.values():
            p.close()
        for x in nodes:
            x.cleanup()


def formats(node):
    return json.loads(node.admin("--json", "metadata", "format").stdout)


def test_the_store_format_is_raised_only_while_every_node_says_its_build_reads_it():
    announce_ms = 300
    c = Cluster(extra_env={"RUSTFS_METADATA_FORMAT_ANNOUNCE_MS": str(announce_ms)}).start()
    try:
        n1, n2, n3 = c.nodes
        s3 = n1.client()
        s3.create_bucket(Bucket="fmt")
        s3.put_bucket_versioning(Bucket="fmt", VersioningConfiguration={"Status": "Enabled"})
        bodies = {}  # key -> [(version id, body)], newest last

        def put_everywhere(tag):
            for i, n in enumerate(c.nodes):
                for j in range(3):
                    key, body = f"k{j}", os.urandom(300 + 50 * i + j)
                    vid = n.client().put_object(Bucket="fmt", Key=key, Body=body)["VersionId"]
                    bodies.setdefault(key, []).append((vid, body))
                    single = f"{tag}/n{i}-{j}"
                    body = os.urandom(900)
                    vid = n.client().put_object(Bucket="fmt", Key=single, Body=body)["VersionId"]
                    bodies[single] = [(vid, body)]

        def check_everywhere():
            for n in c.nodes:
                cl = n.client()
                for key, versions in bodies.items():
                    got = cl.get_object(Bucket="fmt", Key=key)["Body"].read()
                    assert sha256(got) == sha256(versions[-1][1]), (n.endpoint, key)
                    for vid, body in versions:
                        got = cl.get_object(Bucket="fmt", Key=key, VersionId=vid)["Body"].read()
                        assert sha256(got) == sha256(body), (n.endpoint, key, vid)
                listed = cl.list_object_versions(Bucket="fmt")["Versions"]
                want = sorted((k, vid) for k, vs in bodies.items() for vid, _ in vs)
                assert sorted((v["Key"], v["VersionId"]) for v in listed) == want, n.endpoint
                latest = {v["Key"]: v["VersionId"] for v in listed if v["IsLatest"]}
                assert latest == {k: vs[-1][0] for k, vs in bodies.items()}, n.endpoint

        put_everywhere("before")
        f = formats(n1)
        assert f["format"] == 1 and f["writes"] == 1 and f["supported"] >= 3, f
        newest = f["supported"]

        # Node 3 down: its record grows old, and the raise is refused, changing nothing.
        n3.kill9()
        time.sleep(4 * announce_ms / 1000)
        c.leader(among=[n1, n2])
        p = n1.admin("metadata", "raise-format", check=False)
        assert p.returncode != 0, p.stdout
        assert b"node 3" in p.stdout + p.stderr, p.stdout + p.stderr
        assert formats(n2)["format"] == 1
        p = n1.admin("metadata", "raise-format", "--to", str(newest + 1), check=False)
        assert p.returncode != 0 and b"up to" in p.stdout + p.stderr, p.stdout + p.stderr

        # Back, it says so again: the raise goes through any node.
        n3.start(wait=False)
        n3.wait_ready(timeout=60)
        deadline = time.time() + 30
        while True:
            p = n2.admin("metadata", "raise-format", check=False)
            if p.returncode == 0:
                break
            assert time.time() < deadline, p.stdout + p.stderr
            time.sleep(announce_ms / 1000)
        assert f"raised from 1 to {newest}".encode() in p.stdout, p.stdout
        # Every node writes the raised format within its next announce.
        for n in c.nodes:
            deadline = time.time() + 30
            while formats(n)["writes"] != newest:
                assert time.time() < deadline, formats(n)
                time.sleep(0.1)
        table = n1.admin("metadata", "format").stdout.decode()
        assert f"store format {newest}" in table, table
        # Objects of both layouts, overwritten and read through every node.
        put_everywhere("after")
        check_everywhere()
        p = n3.admin("metadata", "raise-format")
        assert b"already" in p.stdout, p.stdout
    finally:
        c.cleanup()
