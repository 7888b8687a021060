"""Garbage collection: shard folders no committed metadata references (as a PUT that died
between its shards and its metadata commit leaves) are removed after the grace period;
live objects and multipart uploads in progress are never touched; tmp leftovers go at start."""

import glob
import os
import shutil
import time
import uuid

from conftest import Server, sha256


def test_gc_removes_only_unreferenced_shards():
    srv = Server(env={"RUSTFS_GC_GRACE_SECS": "1", "RUSTFS_GC_INTERVAL_SECS": "3600"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="gc-bucket")
        live = os.urandom(3 << 20)
        s3.put_object(Bucket="gc-bucket", Key="dir/live", Body=live)
        up = s3.create_multipart_upload(Bucket="gc-bucket", Key="dir/uploading")["UploadId"]
        s3.upload_part(Bucket="gc-bucket", Key="dir/uploading", UploadId=up, PartNumber=1, Body=os.urandom(1 << 20))
        # Forge an orphan: a copy of the live object's shards under a data dir nobody names.
        orphan = str(uuid.uuid4())
        for d in srv.drives():
            obj = os.path.join(d, "gc-bucket", "dir", "live")
            (real,) = [e for e in os.listdir(obj) if e != "xl.meta"]
            shutil.copytree(os.path.join(obj, real), os.path.join(d, "gc-bucket", "dir", "dead", orphan))
        time.sleep(1.5)
        out = srv.admin("gc").stdout.decode()
        assert "1 removed" in out, out
        assert not glob.glob(os.path.join(srv.data, "drive*", "gc-bucket", "dir", "dead"))
        assert sha256(s3.get_object(Bucket="gc-bucket", Key="dir/live")["Body"].read()) == sha256(live)
        parts = s3.list_parts(Bucket="gc-bucket", Key="dir/uploading", UploadId=up)["Parts"]
        etag = parts[0]["ETag"]
        s3.complete_multipart_upload(Bucket="gc-bucket", Key="dir/uploading", UploadId=up,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert len(s3.get_object(Bucket="gc-bucket", Key="dir/uploading")["Body"].read()) == 1 << 20
        assert "0 removed" in srv.admin("gc").stdout.decode()
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
