"""kill -9 in the middle of every kind of write (new keys, overwrites, deletes, multipart
uploads, versioned writes), with requests provably in flight: after a restart every
acknowledged change is there, every visible object is byte for byte one that was sent
(nothing torn or mixed), and garbage collection then leaves exactly the data that
committed metadata references."""

import hashlib
import json
import os
import threading
import time

from conftest import Server, data_dirs

MIB = 1 << 20
INLINE = 128 * 1024


def h(b):
    return hashlib.sha256(b).hexdigest()


class Writer(threading.Thread):
    """One client writing its own keys (so the order of its operations on a key is known):
    a log per key of (op, body hash or None for a delete, acknowledged)."""

    def __init__(self, srv, wid, stop):
        super().__init__(daemon=True)
        self.c = srv.client()
        self.wid = wid
        self.stop = stop
        self.log = {}  # key -> [(op, hash, acked)]
        self.versions = []  # (version id, hash) of acknowledged versioned writes
        self.sent_versions = set()  # hashes of every versioned write sent
        self.in_flight = None
        self.died = False

    def record(self, key, op, digest):
        entry = [op, digest, False]
        self.log.setdefault(key, []).append(entry)
        self.in_flight = (key, op)
        return entry

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                key = f"w{self.wid}/k{i % 7}"
                kind = i % 6
                if kind == 3:
                    e = self.record(key, "delete", None)
                    self.c.delete_object(Bucket="crash", Key=key)
                elif kind == 4:
                    p1, p2 = os.urandom(5 * MIB), os.urandom(1000 + i)
                    e = self.record(key, "multipart", h(p1 + p2))
                    up = self.c.create_multipart_upload(Bucket="crash", Key=key)["UploadId"]
                    t1 = self.c.upload_part(Bucket="crash", Key=key, UploadId=up, PartNumber=1, Body=p1)["ETag"]
                    t2 = self.c.upload_part(Bucket="crash", Key=key, UploadId=up, PartNumber=2, Body=p2)["ETag"]
                    self.c.complete_multipart_upload(Bucket="crash", Key=key, UploadId=up, MultipartUpload={
                        "Parts": [{"PartNumber": 1, "ETag": t1}, {"PartNumber": 2, "ETag": t2}]})
                elif kind == 5:
                    body = os.urandom([2000, 300 * 1024][i % 2])
                    self.sent_versions.add(h(body))
                    e = self.record(f"w{self.wid}/v", "version", h(body))
                    vid = self.c.put_object(Bucket="crash-v", Key=f"w{self.wid}/v", Body=body)["VersionId"]
                    self.versions.append((vid, h(body)))
                else:
                    body = os.urandom([1000, 300 * 1024, 2 * MIB + 5][kind])
                    e = self.record(key, "put", h(body))
                    self.c.put_object(Bucket="crash", Key=key, Body=body)
                e[2] = True
                self.in_flight = None
                i += 1
        except Exception:
            self.died = True


def run_and_kill(srv, seconds=3.0):
    s3 = srv.client()
    s3.create_bucket(Bucket="crash")
    s3.create_bucket(Bucket="crash-v")
    s3.put_bucket_versioning(Bucket="crash-v", VersioningConfiguration={"Status": "Enabled"})
    stop = threading.Event()
    writers = [Writer(srv, w, stop) for w in range(4)]
    for w in writers:
        w.start()
    time.sleep(seconds)
    in_flight = [w.in_flight for w in writers if w.in_flight]
    srv.kill9()
    # Writers go on until a request fails: one between two requests at the kill would
    # otherwise see `stop` before its next request and never learn the server died.
    for w in writers:
        w.join(60)
    stop.set()
    return writers, in_flight


def check_after_restart(srv, writers):
    s3 = srv.client()
    visible = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash"):
        for o in page.get("Contents", []):
            visible[o["Key"]] = h(s3.get_object(Bucket="crash", Key=o["Key"])["Body"].read())
    checked = 0
    for w in writers:
        for key, log in w.log.items():
            if key.endswith("/v"):
                continue
            sent = {d for _, d, _ in log if d}
            got = visible.get(key)
            assert got is None or got in sent, f"{key}: bytes that were never sent (torn or mixed)"
            acked = [e for e in log if e[2]]
            last = log[-1]
            allowed = set()
            if acked:
                allowed.add(acked[-1][1])  # the last acknowledged state (None: deleted)
            else:
                allowed.add(None)
            if not last[2]:
                allowed.add(last[1])  # the write in flight may or may not have happened
            assert got in allowed, f"{key}: got {got}, allowed {allowed} (log {[(o, a) for o, _, a in log]})"
            checked += 1
        versions = s3.list_object_versions(Bucket="crash-v", Prefix=f"w{w.wid}/v").get("Versions", [])
        present = {v["VersionId"] for v in versions}
        for vid, digest in w.versions:
            assert vid in present, f"acknowledged version {vid} lost"
            body = s3.get_object(Bucket="crash-v", Key=f"w{w.wid}/v", VersionId=vid)["Body"].read()
            assert h(body) == digest
        for v in versions:
            body = s3.get_object(Bucket="crash-v", Key=f"w{w.wid}/v", VersionId=v["VersionId"])["Body"].read()
            assert h(body) in w.sent_versions, "a version with bytes never sent"
    assert checked >= 20
    return visible


def referenced_data_dirs(srv):
    """Data dirs committed metadata references: one per erasure-coded version (of any
    bucket), and at most one per upload in progress (its data dir exists once a part was
    written). Returns (versions, uploads)."""
    s3 = srv.client()
    versions = uploads = 0
    for b in ["crash", "crash-v"]:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=b):
            versions += sum(1 for v in page.get("Versions", []) if v["Size"] > INLINE)
        uploads += len(s3.list_multipart_uploads(Bucket=b).get("Uploads", []))
    return versions, uploads


def test_kill9_during_every_kind_of_write():
    srv = Server(env={"RUSTFS_GC_GRACE_SECS": "1", "RUSTFS_GC_INTERVAL_SECS": "3600"}).start()
    try:
        writers, in_flight = run_and_kill(srv)
        assert in_flight, "requests were in flight when the server was killed"
        acked = sum(1 for w in writers for log in w.log.values() for e in log if e[2])
        assert acked > 20, acked
        assert all(w.died for w in writers), "every writer saw the server die"
        srv.start()
        check_after_restart(srv, writers)
        # The writes the kill cut short (and frees it cut short) left data no metadata
        # references: garbage collection, after its grace, removes exactly that.
        time.sleep(1.5)
        report = json.loads(srv.admin("--json", "gc").stdout)
        versions, uploads = referenced_data_dirs(srv)
        assert versions <= len(data_dirs(srv)) <= versions + uploads, (report, versions, uploads)
        check_after_restart(srv, writers)
    finally:
        srv.cleanup()


def metric(srv, name):
    import urllib.request
    body = urllib.request.urlopen(f"{srv.endpoint}/metrics", timeout=10).read().decode()
    return sum(float(line.split()[-1]) for line in body.splitlines() if line.startswith(name + " ") or line.startswith(name + "{"))


def test_kill9_during_a_stream_of_batched_commits():
    """Many concurrent PUTs of erasure-coded objects share each flush of the drives' file
    system (the batched commit path): kill -9 in the middle of the stream loses none that
    was acknowledged, and no key shows bytes that were not sent."""
    srv = Server(env={"RUSTFS_METRICS_AUTH": "public"}).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="batch")
        acked = {}  # key -> hash
        sent = {}
        lock = threading.Lock()

        def writer(wid):
            c = srv.client()
            i = 0
            try:
                while True:
                    body = os.urandom([256 * 1024, MIB, 300 * 1024 + 7][i % 3])
                    key = f"w{wid}/o{i}"
                    with lock:
                        sent[key] = h(body)
                    c.put_object(Bucket="batch", Key=key, Body=body)
                    with lock:
                        acked[key] = h(body)
                    i += 1
            except Exception:
                return

        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(16)]
        for t in threads:
            t.start()
        time.sleep(4)
        # The stream shares flushes: fewer file-system flushes than shard commits.
        flushes, commits = metric(srv, "rustfs_fs_flushes_total"), metric(srv, "rustfs_fs_flush_commits_total")
        assert flushes > 0 and commits > 2 * flushes, (flushes, commits)
        srv.kill9()
        for t in threads:
            t.join(60)
        with lock:
            acked_now = dict(acked)
        assert len(acked_now) > 30, len(acked_now)
        srv.start()
        s3 = srv.client()
        for key, digest in acked_now.items():
            body = s3.get_object(Bucket="batch", Key=key)["Body"].read()
            assert h(body) == digest, f"{key}: acknowledged, then other bytes after the kill"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="batch"):
            for o in page.get("Contents", []):
                if o["Key"] not in acked_now:
                    body = s3.get_object(Bucket="batch", Key=o["Key"])["Body"].read()
                    assert h(body) == sent[o["Key"]], f"{o['Key']}: bytes never sent"
    finally:
        srv.cleanup()
