"""A MinIO deployment of two pools adopted in place (MinIO's way to grow: `minio server
POOL1 POOL2`, one deployment id, each pool with its own sets, set size and SipHash, every
pool coding with the first pool's parity): pool 1 one set of 4 drives (2+2), pool 2 one set
of 6 (4+2), assembled by the independent Python writer with objects on both pools, a key on
both (the newest copy is the key's, as MinIO serves it) and MinIO's `pool.bin`. Started with
the two pools' ellipsis arguments, read by aws-cli and boto3 bit-exact, listed once per key,
written in MinIO's format on the pool each key lives on (new keys on both pools; decoded by
the Python reader), MinIO's decommission honoured (a suspended pool takes no new keys; a
pool MinIO decommissioned completely, or one it knows left out, refused at start), then
migrated to the KV under a writer with the validator clean and every object intact."""

import json
import os
import random
import threading
import time

import minio_deploy as md
from cluster_data import DataCluster
from conftest import Server
from test_migration import CONFIG
from test_minio_adopt import read_all, read_model
from test_minio_adopt_cluster import wait_imported


def adopted_server(dep, args=None):
    return Server(extra_args=["--drives", *(args or dep.args)], env={"RUSTFS_METADATA_ENGINE": "legacy"})


def deployment(tmp_path, rng):
    dep = md.Pools(str(tmp_path / "minio"), [(1, 4), (1, 6)])
    dep.write_formats()
    dep.make_bucket("photos")
    model = {}
    for i in range(12):
        pool = i % 2
        key = f"pool{pool + 1}/obj{i}"
        body = rng.randbytes(rng.choice([0, 900, 70_000, 3 * (1 << 20) + 7]))
        dep.pools[pool].put("photos", key, body, mtime_ns=1_760_000_000_000_000_000 + i)
        model["photos/" + key] = body
    # A key on both pools (a decommission cut short): pool 2's copy is newer.
    dep.pools[0].put("photos", "both", b"older copy on pool 1", mtime_ns=1_760_000_000_000_000_000)
    dep.pools[1].put("photos", "both", b"newer copy on pool 2", mtime_ns=1_760_000_000_000_000_999)
    model["photos/both"] = b"newer copy on pool 2"
    dep.write_pool_bin()
    return dep, model


def test_a_minio_deployment_of_two_pools_is_adopted_written_and_migrated(tmp_path):
    rng = random.Random(21)
    dep, model = deployment(tmp_path, rng)
    s = adopted_server(dep).start()
    try:
        c = s.client()
        info = json.loads(s.admin("--json", "info").stdout)
        r = info["adopted"]["report"]
        assert r["deployment_id"] == dep.id and r["sets"] == 2, r
        pools = [(p["sets"], p["drives_per_set"], p["data"], p["parity"], p["state"]) for p in r["pools"]]
        assert pools == [(1, 4, 2, 2, "active"), (1, 6, 4, 2, "active")], r["pools"]
        assert [p["args"] for p in r["pools"]] == dep.args
        assert info["pools"] == [1, 1] and len(info["drives"]) == 10
        assert all(d["state"] == "online" for d in info["drives"]), info["drives"]
        text = s.admin("info").stdout.decode()
        assert "pool 2:" in text and "4+2" in text, text
        for k, body in model.items():
            bucket, key = k.split("/", 1)
            out = str(tmp_path / "out")
            s.aws("s3", "cp", f"s3://{k}", out)
            with open(out, "rb") as f:
                assert f.read() == body, k
        read_model(c, model)
        listed = [o["Key"] for o in c.list_objects_v2(Bucket="photos")["Contents"]]
        assert listed == sorted(k.split("/", 1)[1] for k in model), listed
        top = c.list_objects_v2(Bucket="photos", Delimiter="/")
        assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["pool1/", "pool2/"]
        assert [o["Key"] for o in top["Contents"]] == ["both"]

        # Writes: new keys spread over both pools, an overwrite stays on its key's pool.
        written = {f"photos/new/{i}": rng.randbytes(rng.choice([500, 300_000, 2 * (1 << 20) + 1])) for i in range(16)}
        written["photos/pool2/obj1"] = b"overwritten on pool 2"
        written["photos/pool1/obj0"] = rng.randbytes(400_000)
        for k, body in written.items():
            bucket, key = k.split("/", 1)
            c.put_object(Bucket=bucket, Key=key, Body=body)
        model.update(written)
        read_model(c, model)
        s.stop()
        used = set()
        for k, body in written.items():
            bucket, key = k.split("/", 1)
            assert len(dep.holding(bucket, key)) == 1, (k, dep.holding(bucket, key))
            (got, obj, _, copies), pool = dep.read_object(bucket, key)
            assert got == body, k
            p = dep.pools[pool]
            assert (obj["EcAlgo"], obj["CSumAlgo"], obj["EcM"], obj["EcN"]) == (1, 1, p.data, 2), (k, obj)
            assert obj["EcDist"] == md.hash_order(k, p.per_set) and len(copies) == p.per_set, k
            used.add(pool)
        assert used == {0, 1}, "new keys on both pools"
        assert dep.holding("photos", "pool2/obj1") == [1] and dep.holding("photos", "pool1/obj0") == [0]

        # MinIO decommissions pool 1: it takes no new keys; its keys stay readable and writable.
        dep.write_pool_bin(decommission={0: "running"})
        s.start()
        c = s.client()
        r = json.loads(s.admin("--json", "info").stdout)["adopted"]["report"]
        assert "being decommissioned" in r["pools"][0]["state"] and r["pools"][1]["state"] == "active", r["pools"]
        late = {f"photos/late/{i}": rng.randbytes(rng.choice([100, 200_000])) for i in range(10)}
        late["photos/pool1/obj2"] = b"rewritten while pool 1 drains"
        for k, body in late.items():
            bucket, key = k.split("/", 1)
            c.put_object(Bucket=bucket, Key=key, Body=body)
        model.update(late)
        read_model(c, model)
        for k in late:
            bucket, key = k.split("/", 1)
            want = [0] if key == "pool1/obj2" else [1]
            assert dep.holding(bucket, key) == want, (k, dep.holding(bucket, key))

        # The migration to the KV, under a writer, to complete.
        stop = threading.Event()
        errors, wrote = [], {}

        def writer():
            i = 0
            w = s.client()
            while not stop.is_set():
                k = f"live/{i % 30}"
                body = rng.randbytes(rng.choice([100, 5000, 300_000]))
                try:
                    w.put_object(Bucket="photos", Key=k, Body=body)
                    wrote["photos/" + k] = body
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                i += 1
                time.sleep(0.01)

        t = threading.Thread(target=writer)
        t.start()
        try:
            s.admin("migration", "phase", "canary", "--ratio", "0.5")
            time.sleep(0.5)
            s.admin("migration", "phase", "fullout")
            s.admin("migration", "start", "--wait")
            v = json.loads(s.admin("--json", "validate").stdout)
            assert v["clean"] and v["errors"] == 0 and v["checked"] > 0, v
            s.admin("migration", "phase", "kv_primary")
            time.sleep(0.5)
            v = json.loads(s.admin("--json", "validate").stdout)
            assert v["clean"], v
            s.admin("migration", "phase", "complete")
            time.sleep(0.5)
        finally:
            stop.set()
            t.join(30)
        assert not errors, errors[:3]
        model.update(wrote)
        read_model(c, model)
        c.put_object(Bucket="photos", Key="after/complete", Body=b"ours")
        model["photos/after/complete"] = b"ours"
        s.stop()
        s.start()
        read_model(s.client(), model)
    finally:
        s.cleanup()


def refused(dep, args, why):
    """A start on `args` fails naming `why`, and writes nothing to the drives."""
    s = adopted_server(dep, args=args)
    try:
        s.start(wait=False)
        assert s.proc.wait(timeout=60) != 0
        assert why in s.logs(), s.logs()[-2000:]
    finally:
        s.cleanup()
    assert not any(os.path.exists(os.path.join(d, ".rustfs.sys")) for d in dep.drives), "nothing written"


def test_pools_minio_forbids_are_refused_before_anything_is_written(tmp_path):
    """MinIO's `pool.bin` rules: a pool it decommissioned completely must not be given (and
    once it is left out, the rest starts), a pool it knows must be given; a refused start
    writes nothing to the drives."""
    dep, model = deployment(tmp_path / "a", random.Random(4))
    dep.write_pool_bin(decommission={0: "complete"})
    refused(dep, dep.args, "was decommissioned by MinIO: remove it from the drive list")
    s = adopted_server(dep, args=dep.args[1:]).start()
    try:
        c = s.client()
        r = json.loads(s.admin("--json", "info").stdout)["adopted"]["report"]
        assert [p["args"] for p in r["pools"]] == dep.args[1:], r["pools"]
        for k, body in model.items():
            if k.startswith("photos/pool2/") or k == "photos/both":
                assert read_all(c, *k.split("/", 1)) == body, k
    finally:
        s.cleanup()
    dep, _ = deployment(tmp_path / "b", random.Random(4))
    refused(dep, dep.args[1:], "is not in the drive list")


class AdoptedPools(DataCluster):
    """`dep`'s pools on 4 nodes: pool 1 (4 drives) on nodes 1-2, two drives each, pool 2
    (6 drives) on nodes 3-4, three each; each pool given as a plain list (the YAML `pools:`
    form, MinIO's order). A node holds drives of one pool only, so it reads the other
    pool's format.json from the other nodes' drives when it starts."""

    def __init__(self, dep):
        self.dep = dep
        self.owner = [0, 0, 1, 1, 2, 2, 2, 3, 3, 3]
        super().__init__(pools=(2, 2), per=0, extra_args=["--metadata-engine", "legacy"])

    def node_drives(self, i):
        return [d for d, n in zip(self.dep.drives, self.owner) if n == i]

    def pool_args(self, pools=None):
        out, at = [], 0
        for p in self.dep.pools:
            out.append([f"http://{self.hosts[self.owner[at + j]]}:{self.port}{d}" for j, d in enumerate(p.drives)])
            at += len(p.drives)
        return out


def wait_all_online(c, timeout=60):
    """Until every node sees every drive online (the others' drive monitors find a
    restarted node's drives again within a few seconds)."""
    deadline = time.time() + timeout
    for n in c.nodes:
        while not all(d["state"] == "online" for d in json.loads(n.admin("--json", "info").stdout)["drives"]):
            assert time.time() < deadline, f"{n.host} does not see every drive online"
            time.sleep(0.3)


def test_a_minio_cluster_of_two_pools_on_four_nodes_is_adopted_and_migrated(tmp_path):
    rng = random.Random(31)
    dep, model = deployment(tmp_path, rng)
    c = AdoptedPools(dep)
    dep.write_pool_bin(cmdlines=[" ".join(p) for p in c.pool_args()])
    for n in c.nodes:
        with open(n.config, "a") as f:
            f.write(CONFIG)
    try:
        c.start()
        for n in c.nodes:
            info = wait_imported(n)
            r = info["adopted"]["report"]
            pools = [(p["sets"], p["drives_per_set"], p["data"], p["parity"], p["state"]) for p in r["pools"]]
            assert pools == [(1, 4, 2, 2, "active"), (1, 6, 4, 2, "active")], (n.host, r["pools"])
            assert not r["unclaimed"] and not r["other_drives"], r
            assert len(info["drives"]) == 10 and all(d["state"] == "online" for d in info["drives"]), info["drives"]
        for n in (c.nodes[0], c.nodes[3]):
            read_model(n.client(), model)
        # Written through node 4 (pool 2's), on both pools, in MinIO's format.
        written = {f"photos/c/{i}": rng.randbytes(rng.choice([700, 250_000, (1 << 20) + 3])) for i in range(12)}
        written["photos/pool1/obj4"] = b"overwritten through a node of pool 2"
        for k, body in written.items():
            c.nodes[3].client().put_object(Bucket="photos", Key=k.split("/", 1)[1], Body=body)
        model.update(written)
        read_model(c.nodes[1].client(), model)
        used = set()
        for k, body in written.items():
            bucket, key = k.split("/", 1)
            (got, obj, _, copies), pool = dep.read_object(bucket, key)
            assert got == body and len(dep.holding(bucket, key)) == 1, k
            assert (obj["EcAlgo"], obj["EcM"], obj["EcN"]) == (1, dep.pools[pool].data, 2), (k, obj)
            used.add(pool)
        assert used == {0, 1} and dep.holding("photos", "pool1/obj4") == [0]
        # A node restarted reads the other pool's format again from the others. (While it
        # is down, pool 2 lacks write quorum: 3 of its 6 drives are on it.)
        c.nodes[2].stop()
        c.nodes[2].start(wait=False)
        c.nodes[2].wait_ready(timeout=90)
        wait_all_online(c)
        read_model(c.nodes[2].client(), model)

        # The migration to the KV through the nodes; afterwards every node writes its own format.
        n1, n2, n3, n4 = c.nodes
        n1.admin("migration", "phase", "canary", "--ratio", "0.5")
        n2.admin("migration", "phase", "fullout")
        n3.admin("migration", "start", "--wait", "--objects-per-day", "0")
        v = json.loads(n4.admin("--json", "validate").stdout)
        assert v["clean"] and v["errors"] == 0 and v["checked"] > 0, v
        n2.admin("migration", "phase", "kv_primary")
        n3.admin("migration", "phase", "complete")
        deadline = time.time() + 30
        while any(json.loads(n.admin("--json", "info").stdout)["adopted"]["minio_writes"] for n in c.nodes):
            assert time.time() < deadline, "a node still writes MinIO's format after complete"
            time.sleep(0.5)
        for i in range(6):
            n4.client().put_object(Bucket="photos", Key=f"after/{i}", Body=b"ours %d" % i)
            model[f"photos/after/{i}"] = b"ours %d" % i
        for n in c.nodes:
            read_model(n.client(), model)
    finally:
        c.cleanup()
