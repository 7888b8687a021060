"""Garbage collection: shard folders no committed metadata references (as a PUT that died
between its shards and its metadata commit leaves) are removed after the grace period;
live objects, objects whose keys look like internal folders, and multipart uploads in
progress are never touched; tmp leftovers go at start."""

import json
import os
import shutil
import time
import uuid

from conftest import Server, data_dirs, sha256, shard_files

MIB = 1 << 20


def forge_orphan(srv, bucket, key_dir):
    """A copy of one live object's shards under a data dir nobody names (as a write that
    died before its commit leaves), in the layout the engine uses. Returns its name."""
    orphan = str(uuid.uuid4())
    (live_dir,) = {os.path.dirname(f) for f in shard_files(srv, bucket) if f.startswith(srv.drives()[0] + os.sep)}
    for d in srv.drives():
        src = live_dir.replace(srv.drives()[0], d, 1)
        if os.sep + ".rustfs.sys" + os.sep in live_dir:
            fan = os.path.dirname(os.path.dirname(src))
            dst = os.path.join(fan, orphan[:2], orphan)
        else:
            dst = os.path.join(d, bucket, key_dir, orphan)
        shutil.copytree(src, dst)
    return orphan


def gc(srv):
    return json.loads(srv.admin("--json", "gc").stdout)


def test_gc_removes_only_unreferenced_shards():
    srv = Server(env={"RUSTFS_GC_GRACE_SECS": "1", "RUSTFS_GC_INTERVAL_SECS": "3600"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="gc-bucket")
        live = os.urandom(3 * MIB)
        s3.put_object(Bucket="gc-bucket", Key="dir/live", Body=live)
        orphan = forge_orphan(srv, "gc-bucket", "dir/dead")
        up = s3.create_multipart_upload(Bucket="gc-bucket", Key="dir/uploading")["UploadId"]
        s3.upload_part(Bucket="gc-bucket", Key="dir/uploading", UploadId=up, PartNumber=1, Body=os.urandom(MIB))
        assert orphan in data_dirs(srv)
        time.sleep(1.5)
        report = gc(srv)
        assert report["data_dirs_removed"] == 1, report
        assert orphan not in data_dirs(srv)
        assert sha256(s3.get_object(Bucket="gc-bucket", Key="dir/live")["Body"].read()) == sha256(live)
        parts = s3.list_parts(Bucket="gc-bucket", Key="dir/uploading", UploadId=up)["Parts"]
        etag = parts[0]["ETag"]
        s3.complete_multipart_upload(Bucket="gc-bucket", Key="dir/uploading", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert len(s3.get_object(Bucket="gc-bucket", Key="dir/uploading")["Body"].read()) == MIB
        time.sleep(1.5)
        assert gc(srv)["data_dirs_removed"] == 0
    finally:
        srv.cleanup()


def test_keys_that_look_like_data_dirs_survive_gc():
    """Spark and Dask write `<dir>/<uuid>/part.N...` keys: they are objects, never taken
    for the server's own data folders, on either engine."""
    srv = Server(env={"RUSTFS_GC_GRACE_SECS": "1", "RUSTFS_GC_INTERVAL_SECS": "3600"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="spark")
        u = "3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60"
        keys = [f"exports/{u}/part.0.parquet", f"exports/{u}/part.1", f"exports/{u}/part.2/x",
                f"{uuid.uuid4().hex}/part.7", f"{uuid.uuid4()}/part.1"]
        bodies = {k: os.urandom(300 * 1024 + i) for i, k in enumerate(keys)}
        bodies["exports/small/part.1"] = b"inline"
        for k, b in bodies.items():
            s3.put_object(Bucket="spark", Key=k, Body=b)
        time.sleep(1.5)
        report = gc(srv)
        assert report["data_dirs_removed"] == 0 and report["data_dirs_seen"] == 5, report
        for k, b in bodies.items():
            assert s3.get_object(Bucket="spark", Key=k)["Body"].read() == b, k
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="spark")["Contents"]]
        assert listed == sorted(bodies), listed
    finally:
        srv.cleanup()


def test_deleted_bucket_leaves_no_data_and_a_new_one_sees_none():
    srv = Server(env={"RUSTFS_GC_GRACE_SECS": "1", "RUSTFS_GC_INTERVAL_SECS": "3600"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="again")
        s3.put_object(Bucket="again", Key="k", Body=os.urandom(MIB))
        up = s3.create_multipart_upload(Bucket="again", Key="open")["UploadId"]
        s3.upload_part(Bucket="again", Key="open", UploadId=up, PartNumber=1, Body=os.urandom(MIB))
        s3.delete_object(Bucket="again", Key="k")
        # Uploads in progress do not keep a bucket from being deleted: they are aborted.
        s3.delete_bucket(Bucket="again")
        s3.create_bucket(Bucket="again")
        assert s3.list_multipart_uploads(Bucket="again").get("Uploads", []) == []
        assert "Contents" not in s3.list_objects_v2(Bucket="again")
        time.sleep(2.5)
        gc(srv)
        assert shard_files(srv, "again") == []
    finally:
        srv.cleanup()


def test_tmp_leftovers_cleared_at_start(fresh_server):
    srv = fresh_server.start()
    srv.stop()
    stale = os.path.join(srv.drives()[0], ".rustfs.sys", "tmp", "deadbeef")
    os.makedirs(stale)
    with open(os.path.join(stale, "part.1"), "wb") as f:
        f.write(b"half written")
    srv.start()
    assert not os.path.exists(stale)


def test_background_gc_worker_runs_and_reports():
    """The GC worker of the background runner removes an orphan on its own, and
    `rustfs-admin workers` shows it (with the other workers) and its units of work."""
    srv = Server(env={"RUSTFS_GC_GRACE_SECS": "1", "RUSTFS_GC_INTERVAL_SECS": "1"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="bg-worker")
        live = os.urandom(MIB)
        s3.put_object(Bucket="bg-worker", Key="live", Body=live)
        orphan = forge_orphan(srv, "bg-worker", "dead")
        deadline = time.time() + 30
        while orphan in data_dirs(srv) and time.time() < deadline:
            time.sleep(0.3)
        assert orphan not in data_dirs(srv)
        assert s3.get_object(Bucket="bg-worker", Key="live")["Body"].read() == live
        workers = {w["name"]: w for w in json.loads(srv.admin("--json", "workers").stdout)}
        assert {"heal-queue", "free", "gc", "inventory"} <= set(workers), workers
        assert workers["gc"]["units"] >= 2 and workers["gc"]["errors"] == 0, workers["gc"]
        assert workers["gc"]["state"] in ("idle", "busy"), workers["gc"]
        text = srv.admin("workers").stdout.decode()
        assert any(line.split()[0] == "gc" and "errors" in line for line in text.splitlines()), text
    finally:
        srv.cleanup()
