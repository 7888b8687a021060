"""The DualTrack migration on a 3-node cluster (3 x 4 drives, xl.meta copies on every node,
metadata replicated over the same nodes): a legacy deployment loaded through one node is
moved to the KV through canary 5% -> 25% -> fullout -> migrator (its node, the coordinator,
killed with -9 halfway; a survivor resumes the pass from its checkpoint) -> validator ->
kv_primary -> rollback -> complete -> cleanup, while a client on every node keeps writing
and reads each write back through another node. At every step, through a different node,
every object reads back with the same bytes, ETag, version id and metadata, and listings
neither lose nor repeat a key."""

import glob
import json
import os
import random
import time

from cluster_data import DataCluster
from test_migration import CONFIG, Model, Writer, load_legacy, validate_clean, verify


def status(node):
    return json.loads(node.admin("--json", "migration", "status").stdout)


def phase(node, *args):
    out = node.admin("migration", "phase", *args).stdout.decode()
    assert "phase is now" in out, out
    return out


def xl_meta_files(c):
    return [p for i in range(3) for d in c.node_drives(i) for p in glob.glob(os.path.join(d, "plain", "**", "xl.meta"), recursive=True)]


def test_migration_on_three_nodes_under_load_with_kill9_of_the_coordinator(tmp_path):
    random.seed(11)
    c = DataCluster(extra_args=["--metadata-engine", "legacy"])
    for n in c.nodes:
        with open(n.config, "a") as f:
            f.write(CONFIG)
    try:
        c.start()
        n1, n2, n3 = c.nodes
        model = Model()
        load_legacy(n1, n1.client(max_pool_connections=32), model, str(tmp_path))
        verify(n2.client(max_pool_connections=32), model, "legacy through node 2")
        assert status(n3)["state"]["phase"] == "legacy"
        files = xl_meta_files(c)
        assert files and {f.split("/n")[1][0] for f in files} == {"1", "2", "3"}, "xl.meta copies on every node"

        # A client on every node, reading each of its writes back through the next node.
        writers = [
            Writer(c.nodes[i].client(max_pool_connections=4), model, prefix=f"live/n{i + 1}/",
                   reader=c.nodes[(i + 1) % 3].client(max_pool_connections=4), max_keys=200)
            for i in range(3)
        ]
        for w in writers:
            w.start()

        phase(n3, "canary", "--ratio", "0.05")
        verify(n1.client(max_pool_connections=32), model, "canary 5%", True)
        phase(n1, "canary", "--ratio", "0.25")
        verify(n2.client(max_pool_connections=32), model, "canary 25%", True)
        phase(n2, "fullout")
        verify(n3.client(max_pool_connections=32), model, "fullout", True)
        assert n1.admin("migration", "phase", "kv_primary", check=False).returncode != 0

        # The migrator runs on the coordinator (the metadata leader): killed with -9 halfway.
        n3.admin("migration", "start", "--objects-per-day", str(500 * 86400))
        deadline = time.time() + 90
        while (status(n1)["migrator"]["checkpoint"] or {}).get("scanned", 0) < 500:
            assert time.time() < deadline, "the migrator made no progress"
            time.sleep(0.1)
        for w in writers:
            w.pause()
        coordinator = c.leader()
        coordinator.kill9()
        survivors = [n for n in c.nodes if n is not coordinator]
        c.leader(among=survivors)
        st = status(survivors[0])
        cp = st["migrator"]["checkpoint"]
        assert st["state"]["phase"] == "fullout" and not st["state"]["migrator_done"], st
        assert not cp["done"] and cp["scanned"] >= 500 and cp["pass"] == 1, cp
        coordinator.start()
        for w in writers:
            w.resume()
        survivors[1].admin("migration", "start", "--wait", "--objects-per-day", "0")
        st = status(coordinator)
        cp = st["migrator"]["checkpoint"]
        assert cp["done"] and cp["pass"] == 1, f"resumed the same pass from its checkpoint: {cp}"
        assert cp["scanned"] < cp["total"] + 1000, f"resumed, not restarted: {cp}"
        assert cp["errors"] == 0 and st["state"]["migrator_done"], st
        verify(n1.client(max_pool_connections=32), model, "migrated", True)
        validate_clean(n2)

        phase(n3, "kv_primary")
        verify(n1.client(max_pool_connections=32), model, "kv_primary", True)
        time.sleep(1)  # the clients write in kv_primary (KV primary, xl.meta shadow)
        phase(n1, "fullout")  # rollback
        verify(n2.client(max_pool_connections=32), model, "rolled back to fullout", True)
        validate_clean(n3)  # xl.meta holds every write made in kv_primary
        phase(n2, "kv_primary")
        validate_clean(n1)
        phase(n3, "complete")
        verify(n1.client(max_pool_connections=32), model, "complete", True)
        job = json.loads(n2.admin("--json", "migration", "cleanup").stdout)
        assert job["kind"] == "cleanup" and job["errors"] == 0 and job["error"] is None, job
        assert job["changed"] == job["done"] and job["done"] > 0, job
        verify(n3.client(max_pool_connections=32), model, "cleaned up", True)
        assert not xl_meta_files(c), "cleanup removed the xl.meta files on every node"

        for w in writers:
            w.stop_ev.set()
        for w in writers:
            w.join(30)
            assert not w.errors, w.errors[:5]
            assert w.ops > 20, w.ops
        for n in c.nodes:
            verify(n.client(max_pool_connections=32), model, f"final through {n.host}")
    finally:
        c.cleanup()
