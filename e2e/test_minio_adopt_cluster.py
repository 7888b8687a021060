"""A MinIO deployment of 3 nodes x 4 drives (one erasure set of 12, MinIO's default 8+4),
assembled by the independent Python writer as MinIO lays a cluster out (position i of the
set is the i-th endpoint of the drive list, here a plain list node by node), adopted in place by
3 real `rustfs` processes on 127.0.0.1-3 with the legacy engine: every node reports the
adoption and serves MinIO's objects bit-exact, writes through one node are in MinIO's
format (decoded from the drives by the Python reader), objects stay readable and writable
with a node killed -9, and the migration to the KV runs to complete through the nodes,
after which every node writes its own format."""

import json
import os
import random
import time

import minio_deploy as md
from cluster_data import DataCluster
from test_migration import CONFIG


class AdoptedCluster(DataCluster):
    """The drives of `dep` (12 positions) on 3 nodes, listed node by node as a plain list
    (MinIO keeps a plain list's order: positions 0-3 on node 1, 4-7 on node 2, 8-11 on
    node 3; this server's own clusters would interleave them)."""

    def __init__(self, dep):
        self.dep = dep
        super().__init__(pools=(3,), per=4, extra_args=["--metadata-engine", "legacy"])

    def node_drives(self, i):
        return [self.dep.drives[p] for p in range(12) if p // 4 == i]

    def pool_args(self, pools=None):
        return [[f"http://{self.hosts[p // 4]}:{self.port}{self.dep.drives[p]}" for p in range(12)]]


def read_all(c, bucket, key):
    return c.get_object(Bucket=bucket, Key=key)["Body"].read()


def wait_imported(node, timeout=60):
    deadline = time.time() + timeout
    while True:
        info = json.loads(node.admin("--json", "info").stdout)
        buckets = info["adopted"]["buckets"]
        if buckets and not any(b.get("pending") for b in buckets):
            return info
        assert time.time() < deadline, f"MinIO's buckets not imported: {buckets}"
        time.sleep(0.5)


def test_a_three_node_minio_cluster_is_adopted_in_place_and_migrated(tmp_path):
    dep = md.Deployment(str(tmp_path / "minio"), sets=1, per_set=12, seed=7)
    dep.write_formats()
    dep.make_bucket("photos", versioning="Enabled")
    rng = random.Random(13)
    model = {"photos/small.txt": b"hello MinIO cluster", "photos/big/3mib": rng.randbytes(3 * (1 << 20) + 11),
             "photos/dir/200k": rng.randbytes(200 * 1024), "photos/empty": b""}
    for k, body in model.items():
        bucket, key = k.split("/", 1)
        dep.put(bucket, key, body)
    c = AdoptedCluster(dep)
    for n in c.nodes:
        with open(n.config, "a") as f:
            f.write(CONFIG)
    try:
        c.start()
        n1, n2, n3 = c.nodes
        for n in c.nodes:
            info = wait_imported(n)
            a = info["adopted"]
            assert a["report"]["deployment_id"] == dep.id and a["minio_writes"], a
            assert (a["report"]["sets"], a["report"]["drives_per_set"], a["report"]["data"],
                    a["report"]["parity"]) == (1, 12, 8, 4), a["report"]
            assert not a["report"]["unclaimed"] and not a["report"]["other_drives"], a["report"]
            assert info["deployment_id"] == dep.id
            assert [b["name"] for b in a["buckets"]] == ["photos"], a["buckets"]
            assert len(info["drives"]) == 12 and all(d["state"] == "online" for d in info["drives"]), info["drives"]
        for n in c.nodes:
            cl = n.client()
            assert [b["Name"] for b in cl.list_buckets()["Buckets"]] == ["photos"]
            assert cl.get_bucket_versioning(Bucket="photos")["Status"] == "Enabled"
            for k, body in model.items():
                bucket, key = k.split("/", 1)
                assert read_all(cl, bucket, key) == body, (n.host, k)

        # Written through node 2, read through node 3, and in MinIO's format on the drives.
        written = {"photos/new/small": b"y" * 900, "photos/new/2mib": rng.randbytes(2 * (1 << 20) + 3),
                   "photos/small.txt": b"a new version, written by rustfs"}
        for k, body in written.items():
            bucket, key = k.split("/", 1)
            n2.client().put_object(Bucket=bucket, Key=key, Body=body)
        model.update(written)
        for k, body in model.items():
            bucket, key = k.split("/", 1)
            assert read_all(n3.client(), bucket, key) == body, k
        for k, body in written.items():
            bucket, key = k.split("/", 1)
            got, obj, _, copies = dep.read_object(bucket, key)
            assert got == body, k
            assert (obj["EcAlgo"], obj["CSumAlgo"], obj["EcM"], obj["EcN"]) == (1, 1, 8, 4), obj
            assert obj["EcDist"] == md.hash_order(k, 12), (k, obj["EcDist"])
            assert len(copies) == 12, "an xl.meta on every drive of every node"

        # A node killed -9: its 4 drives are parity's worth; reads and writes go on.
        n3.kill9()
        cl = n1.client()
        for k, body in model.items():
            bucket, key = k.split("/", 1)
            assert read_all(cl, bucket, key) == body, k
        deadline = time.time() + 60
        while True:
            try:
                cl.put_object(Bucket="photos", Key="while/n3/down", Body=b"degraded")
                break
            except Exception:  # noqa: BLE001 - the drive monitor takes node 3 offline first
                assert time.time() < deadline, "no write with a node down"
                time.sleep(0.5)
        model["photos/while/n3/down"] = b"degraded"
        n3.start()
        n3.wait_ready(timeout=90)
        assert read_all(n3.client(), "photos", "while/n3/down") == b"degraded"

        # The migration to the KV, through the nodes.
        n1.admin("migration", "phase", "canary", "--ratio", "0.5")
        n2.admin("migration", "phase", "fullout")
        n3.admin("migration", "start", "--wait", "--objects-per-day", "0")
        v = json.loads(n1.admin("--json", "validate").stdout)
        assert v["clean"] and v["errors"] == 0 and v["checked"] > 0, v
        n2.admin("migration", "phase", "kv_primary")
        n3.admin("migration", "phase", "complete")
        deadline = time.time() + 30
        while any(json.loads(n.admin("--json", "info").stdout)["adopted"]["minio_writes"] for n in c.nodes):
            assert time.time() < deadline, "a node still writes MinIO's format after complete"
            time.sleep(0.5)
        n2.client().put_object(Bucket="photos", Key="after/complete", Body=b"ours")
        model["photos/after/complete"] = b"ours"
        assert not os.path.exists(os.path.join(dep.drives[0], "photos", "after", "complete", "xl.meta")), \
            "after complete, no xl.meta for new objects"
        for n in c.nodes:
            cl = n.client()
            for k, body in model.items():
                bucket, key = k.split("/", 1)
                assert read_all(cl, bucket, key) == body, (n.host, k)
    finally:
        c.cleanup()
