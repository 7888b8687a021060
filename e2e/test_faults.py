"""Faults with real processes and real files: wiped, removed and corrupted drives; heal;
losing more drives than parity; kill -9 during uploads; a second server on the same data."""

import glob
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Server, sha256, shard_files

MIB = 1 << 20


def load(s3, bucket, n=12):
    objs = {}
    for i in range(n):
        size = [300 * 1024, 2 * MIB + 3, 5 * MIB][i % 3]
        data = os.urandom(size)
        s3.put_object(Bucket=bucket, Key=f"obj/{i}", Body=data)
        objs[f"obj/{i}"] = sha256(data)
    return objs


def check_all(s3, bucket, objs):
    for k, h in objs.items():
        assert sha256(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) == h, k


def wipe(drive):
    """Removes a drive's objects (both layouts), keeping its format."""
    for e in os.listdir(drive):
        if e != ".rustfs.sys":
            shutil.rmtree(os.path.join(drive, e))
    shutil.rmtree(os.path.join(drive, ".rustfs.sys", "data"), ignore_errors=True)


def test_wiped_drives_read_and_heal(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="faults")
    objs = load(s3, "faults")
    full = len(shard_files(srv, "faults"))
    for d in srv.drives()[:4]:
        wipe(d)
    assert len(shard_files(srv, "faults")) == full * 8 // 12
    check_all(s3, "faults", objs)
    # (The reads above already queued degraded objects for background heal: the job heals
    # what is left, so its shard count varies; what it leaves must not.)
    report = json.loads(srv.admin("--json", "heal").stdout)
    assert (report["objects_scanned"], report["objects_failed"], report["error"]) == (len(objs), 0, None), report
    assert report["shards_healed"] <= full - full * 8 // 12, report
    assert len(shard_files(srv, "faults")) == full
    # Now lose four *other* drives: the healed shards carry the data.
    for d in srv.drives()[4:8]:
        wipe(d)
    check_all(s3, "faults", objs)
    srv.admin("heal", "--bucket", "faults")
    assert len(shard_files(srv, "faults")) == full


def test_corrupt_shards_are_detected_rebuilt_and_healed(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="bitrot")
    objs = load(s3, "bitrot", 6)
    files = shard_files(srv, "bitrot")
    originals = {}
    rng = random.Random(7)
    # Flip bytes in 4 of the 12 shards of every object (a data dir and part file name one).
    by_obj = {}
    for f in files:
        by_obj.setdefault((os.path.basename(os.path.dirname(f)), os.path.basename(f)), []).append(f)
    assert len(by_obj) == 6 and all(len(g) == 12 for g in by_obj.values())
    for group in by_obj.values():
        for f in rng.sample(group, 4):
            with open(f, "rb") as fh:
                originals[f] = fh.read()
            with open(f, "r+b") as fh:
                pos = rng.randrange(len(originals[f]))
                fh.seek(pos)
                fh.write(bytes([originals[f][pos] ^ 0xFF]))
    check_all(s3, "bitrot", objs)
    srv.admin("heal")
    for f, data in originals.items():
        with open(f, "rb") as fh:
            assert fh.read() == data, f"{f} restored bit-exact"
    # The walk ran as a job on the background runner: one unit per object version.
    workers = {w["name"]: w for w in json.loads(srv.admin("--json", "workers").stdout)}
    walk = workers["heal-walk"]
    assert (walk["state"], walk["errors"], walk["leader_only"]) == ("done", 0, False), walk
    assert walk["units"] >= len(objs), walk


def test_five_drives_gone_fails_cleanly(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="toofew")
    objs = load(s3, "toofew", 3)
    s3.put_object(Bucket="toofew", Key="inline", Body=b"small stays readable")
    for d in srv.drives()[:5]:
        wipe(d)
    for k in objs:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket="toofew", Key=k)["Body"].read()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500
    # An inline object lives in its metadata: in the KV, or (legacy track) in xl.meta, of
    # which 7 copies remain (more than the 4 an acknowledged change can leave behind).
    assert s3.get_object(Bucket="toofew", Key="inline")["Body"].read() == b"small stays readable"


def test_replaced_empty_drive_is_formatted_and_healed(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="replace")
    objs = load(s3, "replace", 6)
    full = len(shard_files(srv, "replace"))
    srv.stop()
    shutil.rmtree(srv.drives()[3])
    os.mkdir(srv.drives()[3])
    srv.start()
    info = json.loads(srv.admin("--json", "info").stdout)
    replaced = [d for d in info["drives"] if d["path"] == srv.drives()[3]]
    assert [d["state"] for d in replaced] == ["online"], replaced
    assert all(d["state"] == "online" for d in info["drives"]), info["drives"]
    check_all(s3, "replace", objs)
    srv.admin("heal")
    assert len(shard_files(srv, "replace")) == full


def test_missing_and_foreign_drives_are_reported(fresh_server, tmp_path):
    srv = fresh_server.start()
    srv.stop()
    shutil.rmtree(srv.drives()[0])
    other = Server(data=str(tmp_path / "other")).start()
    other.stop()
    shutil.rmtree(srv.drives()[1])
    shutil.copytree(other.drives()[1], srv.drives()[1])
    srv.start()
    info = json.loads(srv.admin("--json", "info").stdout)
    by_path = {d["path"]: d for d in info["drives"]}
    assert by_path[srv.drives()[0]]["state"] == "offline" and "missing" in by_path[srv.drives()[0]]["reason"]
    assert by_path[srv.drives()[1]]["state"] == "offline"
    assert "another deployment" in by_path[srv.drives()[1]]["reason"]
    assert sum(d["state"] == "online" for d in info["drives"]) == 10
    other.cleanup()
    srv.stop()
    for d in srv.drives()[2:5]:
        shutil.rmtree(d)
        with open(d, "w") as f:
            f.write("not a drive")
    srv.start(wait=False)
    assert srv.proc.wait(30) != 0
    assert "needed to start" in srv.logs()


def test_second_server_on_same_data_is_refused(fresh_server):
    srv = fresh_server.start()
    twin = Server(data=srv.data)
    twin.start(wait=False)
    assert twin.proc.wait(30) != 0
    assert "already running" in twin.logs()
    twin.proc = None
    twin.cleanup()


def test_kill9_during_uploads_loses_no_acknowledged_write(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="crash")
    acked = {}
    attempted = set()
    stop = threading.Event()
    lock = threading.Lock()

    def writer(wid):
        c = srv.client()
        i = 0
        while not stop.is_set():
            key = f"w{wid}/{i}"
            data = os.urandom([1000, 200 * 1024, 3 * MIB][i % 3])
            with lock:
                attempted.add(key)
            try:
                c.put_object(Bucket="crash", Key=key, Body=data)
            except Exception:
                return
            with lock:
                acked[key] = sha256(data)
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    srv.kill9()
    stop.set()
    for t in threads:
        t.join(60)
    assert len(acked) > 10
    srv.start()
    s3 = srv.client()
    for k, h in acked.items():
        assert sha256(s3.get_object(Bucket="crash", Key=k)["Body"].read()) == h, k
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash"):
        listed |= {o["Key"] for o in page.get("Contents", [])}
    assert set(acked) <= listed <= attempted
    for k in listed - set(acked):
        s3.get_object(Bucket="crash", Key=k)["Body"].read()  # complete, readable


def test_sigterm_stops_cleanly(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="term")
    s3.put_object(Bucket="term", Key="k", Body=b"v")
    assert srv.stop(signal.SIGTERM) == 0
    srv.start()
    assert srv.client().get_object(Bucket="term", Key="k")["Body"].read() == b"v"
