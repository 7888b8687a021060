"""The DualTrack migration end to end with the real binary: a legacy (xl.meta) deployment
loaded with aws-cli and boto3 is moved to the KV through canary 5% -> 25% -> fullout ->
migrator (killed with -9 halfway, resumed from its checkpoint) -> validator -> kv_primary ->
rollback to fullout -> kv_primary -> complete -> cleanup, while a client keeps writing and
reading. At every step every object reads back with the same bytes, ETag, version id and
metadata, and listings neither lose nor repeat a key."""

import glob
import shutil
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import Server, sha256

KIB = 1 << 10
MIB = 1 << 20

CONFIG = """migration:
  migration:
    enabled: false
    concurrency: 8
  consistency_check:
    enabled: false
consistency:
  level: eventual
  window_seconds: 5
"""


class Model:
    """What the clients were told: the current version of every key, and every version of
    the versioned bucket."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = {}  # (bucket, key) -> (sha256, etag, metadata, version_id)
        self.versions = {}  # key -> [(version_id, etag or None for a delete marker)], newest first

    def put(self, bucket, key, body, resp, meta):
        with self.lock:
            self.current[(bucket, key)] = (sha256(body), resp["ETag"], meta, resp.get("VersionId"))

    def snapshot(self):
        with self.lock:
            return dict(self.current)


def load_legacy(srv, s3, model, tmp):
    s3.create_bucket(Bucket="plain")
    s3.create_bucket(Bucket="ver")
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})

    # aws-cli: a folder of small files, a few erasure-coded ones and one multipart upload.
    src = os.path.join(tmp, "cli")
    os.makedirs(src)
    files = {}
    for i in range(600):
        files[f"small/{i:04d}.txt"] = os.urandom(random.randint(1, 4 * KIB))
    for i in range(4):
        files[f"big/{i}.bin"] = os.urandom(300 * KIB + i)
    files["huge/multipart.bin"] = os.urandom(20 * MIB + 7)
    for name, body in files.items():
        p = os.path.join(src, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(body)
    srv.aws("s3", "cp", src, "s3://plain/cli/", "--recursive", "--only-show-errors")
    for name, body in files.items():
        h = s3.head_object(Bucket="plain", Key=f"cli/{name}")
        model.put("plain", f"cli/{name}", body, h, {})
    assert model.snapshot()[("plain", "cli/huge/multipart.bin")][1].endswith('-3"'), "aws-cli used multipart"

    # boto3: objects with user metadata, inline and erasure-coded, in parallel.
    def put_plain(i):
        body = os.urandom(200 * KIB if i % 50 == 0 else random.randint(0, 3 * KIB))
        meta = {"n": str(i), "origin": "boto3"}
        key = f"boto/{i % 13}/obj-{i:05d}"
        r = s3.put_object(Bucket="plain", Key=key, Body=body, Metadata=meta, ContentType="application/x-test")
        model.put("plain", key, body, r, meta)

    with ThreadPoolExecutor(16) as ex:
        list(ex.map(put_plain, range(1500)))

    # boto3 multipart with metadata.
    for i in range(2):
        key = f"mpu/{i}"
        meta = {"kind": "multipart"}
        up = s3.create_multipart_upload(Bucket="plain", Key=key, Metadata=meta)
        parts, body = [], b""
        for n in (1, 2):
            chunk = os.urandom(5 * MIB + n)
            body += chunk
            r = s3.upload_part(Bucket="plain", Key=key, UploadId=up["UploadId"], PartNumber=n, Body=chunk)
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
        r = s3.complete_multipart_upload(Bucket="plain", Key=key, UploadId=up["UploadId"],
                                         MultipartUpload={"Parts": parts})
        model.put("plain", key, body, r, meta)

    # Versioned bucket: two versions per key, some deleted (delete marker), some versions removed.
    def put_ver(i):
        key = f"v/{i:04d}"
        hist = []
        for gen in range(2):
            body = f"{key} generation {gen}".encode()
            meta = {"gen": str(gen)}
            r = s3.put_object(Bucket="ver", Key=key, Body=body, Metadata=meta)
            hist.insert(0, (r["VersionId"], r["ETag"]))
            model.put("ver", key, body, r, meta)
        if i % 10 == 0:
            r = s3.delete_object(Bucket="ver", Key=key)
            hist.insert(0, (r["VersionId"], None))
            with model.lock:
                model.current.pop(("ver", key))
        elif i % 10 == 1:
            # Remove the older version permanently.
            s3.delete_object(Bucket="ver", Key=key, VersionId=hist[1][0])
            hist.pop(1)
        with model.lock:
            model.versions[key] = hist

    with ThreadPoolExecutor(16) as ex:
        list(ex.map(put_ver, range(300)))

    # Deleted objects in the plain bucket.
    for i in range(0, 1500, 100):
        key = f"boto/{i % 13}/obj-{i:05d}"
        s3.delete_object(Bucket="plain", Key=key)
        with model.lock:
            model.current.pop(("plain", key))


def list_keys(s3, bucket):
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, "MaxKeys": 700}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        keys += [o["Key"] for o in r.get("Contents", [])]
        if not r.get("IsTruncated"):
            return keys
        token = r["NextContinuationToken"]


def list_versions(s3, bucket):
    out, km, vm = {}, None, None
    while True:
        kw = {"Bucket": bucket, "MaxKeys": 500}
        if km:
            kw.update(KeyMarker=km, VersionIdMarker=vm)
        r = s3.list_object_versions(**kw)
        entries = [(v["Key"], v["VersionId"], v["ETag"], v["LastModified"]) for v in r.get("Versions", [])]
        entries += [(d["Key"], d["VersionId"], None, d["LastModified"]) for d in r.get("DeleteMarkers", [])]
        for key, vid, etag, mtime in entries:
            out.setdefault(key, []).append((vid, etag, mtime))
        if not r.get("IsTruncated"):
            break
        km, vm = r["NextKeyMarker"], r["NextVersionIdMarker"]
    return {k: [(vid, etag) for vid, etag, _ in sorted(v, key=lambda e: e[2], reverse=True)] for k, v in out.items()}


def verify(s3, model, step, writing=False):
    """Checks every object and listing. While the writer runs (`writing`), its `live/` keys may
    change under the check: for them only the listings are checked (the writer checks its
    own reads), and the final check after it stopped covers their contents."""
    snap = model.snapshot()
    contents = {k: v for k, v in snap.items() if not (writing and k[1].startswith("live/"))}

    def check(item):
        (bucket, key), (h, etag, meta, vid) = item
        r = s3.get_object(Bucket=bucket, Key=key)
        body = r["Body"].read()
        assert sha256(body) == h, f"{step}: {bucket}/{key} bytes differ"
        assert r["ETag"] == etag, f"{step}: {bucket}/{key} etag {r['ETag']} != {etag}"
        assert r["Metadata"] == meta, f"{step}: {bucket}/{key} metadata {r['Metadata']} != {meta}"
        if bucket == "ver":
            assert r["VersionId"] == vid, f"{step}: {bucket}/{key} version"

    with ThreadPoolExecutor(16) as ex:
        list(ex.map(check, contents.items()))
    for bucket in ("plain", "ver"):
        listed = list_keys(s3, bucket)
        assert len(listed) == len(set(listed)), f"{step}: {bucket} listing repeats keys"
        assert listed == sorted(listed), f"{step}: {bucket} listing out of order"
        expected = {k for (b, k) in snap if b == bucket}
        missing = expected - set(listed)
        assert not missing, f"{step}: {bucket} listing lost {sorted(missing)[:5]}"
        # Only the writer adds keys while the check runs (some after the snapshot).
        extra = {k for k in set(listed) - expected if not (writing and k.startswith("live/"))}
        assert not extra, f"{step}: {bucket} listing has unknown keys {sorted(extra)[:5]}"
    with model.lock:
        want = dict(model.versions)
    assert list_versions(s3, "ver") == want, f"{step}: versions differ"


class Writer(threading.Thread):
    """A client that keeps writing new keys, overwriting its own and reading them back (with
    `reader`, through another client: another node of a cluster)."""

    def __init__(self, s3, model, prefix="live/", reader=None, max_keys=None):
        super().__init__(daemon=True)
        self.s3, self.model, self.prefix = s3, model, prefix
        self.reader = reader or s3
        # Past this many keys it only overwrites its own (checks stay the same size).
        self.max_keys = max_keys
        self.stop_ev, self.run_ev = threading.Event(), threading.Event()
        self.run_ev.set()
        self.keys, self.errors, self.ops = [], [], 0

    def run(self):
        n = 0
        while not self.stop_ev.is_set():
            if not self.run_ev.wait(0.1):
                continue
            try:
                if self.keys and (n % 4 == 0 or (self.max_keys and len(self.keys) >= self.max_keys)):
                    key = random.choice(self.keys)
                else:
                    key = f"{self.prefix}{n:06d}"
                body = os.urandom(random.randint(10, 2 * KIB))
                meta = {"w": str(n)}
                r = self.s3.put_object(Bucket="plain", Key=key, Body=body, Metadata=meta)
                self.model.put("plain", key, body, r, meta)
                if key not in self.keys:
                    self.keys.append(key)
                # Read-your-writes, whatever the phase.
                got = self.reader.get_object(Bucket="plain", Key=key)
                if sha256(got["Body"].read()) != sha256(body) or got["Metadata"] != meta:
                    self.errors.append(f"stale read of {key} after writing it")
                n += 1
                self.ops += 1
            except Exception as e:  # noqa: BLE001 - collected and asserted on
                if self.run_ev.is_set():
                    self.errors.append(f"{key}: {e}")
            time.sleep(0.005)

    def pause(self):
        self.run_ev.clear()
        time.sleep(0.3)

    def resume(self):
        self.run_ev.set()


def status(srv):
    return json.loads(srv.admin("--json", "migration", "status").stdout)


def phase(srv, *args):
    return srv.admin("migration", "phase", *args).stdout.decode()


def validate_clean(srv):
    v = json.loads(srv.admin("--json", "validate").stdout)
    for k in ("checked", "in_sync", "diverged", "kv_only", "fs_only", "missing", "errors"):
        assert k in v, k
    assert v["diverged"] == 0 and v["kv_only"] == 0 and v["fs_only"] == 0 and v["errors"] == 0, v
    assert v["checked"] > 0 and v["clean"], v
    return v


def xl_meta_files(srv):
    return [p for p in glob.glob(os.path.join(srv.data, "drive*", "plain", "**", "xl.meta"), recursive=True)]


def test_migration_scenario_under_load_with_kill9_and_rollback(tmp_path):
    random.seed(7)
    srv = Server(extra_args=["--metadata-engine", "legacy"], config_text=CONFIG).start()
    try:
        s3 = srv.client(max_pool_connections=32)
        model = Model()
        load_legacy(srv, s3, model, str(tmp_path))
        verify(s3, model, "legacy")
        assert status(srv)["state"]["phase"] == "legacy"
        assert xl_meta_files(srv), "the legacy track keeps xl.meta files"

        w = Writer(srv.client(max_pool_connections=4), model)
        w.start()

        phase(srv, "canary", "--ratio", "0.05")
        verify(s3, model, "canary 5%", True)
        phase(srv, "canary", "--ratio", "0.25")
        verify(s3, model, "canary 25%", True)
        phase(srv, "fullout")
        verify(s3, model, "fullout", True)
        # kv_primary is refused before the migrator has copied everything.
        assert srv.admin("migration", "phase", "kv_primary", check=False).returncode != 0

        # The migrator, throttled, killed with -9 halfway.
        srv.admin("migration", "start", "--objects-per-day", str(500 * 86400))
        deadline = time.time() + 60
        while True:
            cp = status(srv)["migrator"]["checkpoint"] or {}
            if cp.get("scanned", 0) >= 500:
                break
            assert time.time() < deadline, "the migrator made no progress"
            time.sleep(0.1)
        w.pause()
        srv.kill9()
        srv.start()
        st = status(srv)
        cp = st["migrator"]["checkpoint"]
        assert st["state"]["phase"] == "fullout" and not st["state"]["migrator_done"]
        assert not cp["done"] and cp["scanned"] >= 500 and cp["pass"] == 1, cp
        w.resume()
        srv.admin("migration", "start", "--wait", "--objects-per-day", "0")
        st = status(srv)
        cp = st["migrator"]["checkpoint"]
        assert cp["done"] and cp["pass"] == 1, "resumed the same pass from its checkpoint"
        assert cp["scanned"] < cp["total"] + 1000, f"resumed, not restarted: {cp}"
        assert cp["errors"] == 0 and st["state"]["migrator_done"], st
        verify(s3, model, "migrated", True)
        validate_clean(srv)

        phase(srv, "kv_primary")
        verify(s3, model, "kv_primary", True)
        time.sleep(1)  # the writer writes in kv_primary (KV primary, xl.meta shadow)
        phase(srv, "fullout")  # rollback
        verify(s3, model, "rolled back to fullout", True)
        validate_clean(srv)  # xl.meta holds every write made in kv_primary

        phase(srv, "kv_primary")
        validate_clean(srv)
        phase(srv, "complete")
        verify(s3, model, "complete", True)
        job = json.loads(srv.admin("--json", "migration", "cleanup").stdout)
        assert job["kind"] == "cleanup" and job["errors"] == 0 and job["error"] is None, job
        assert job["changed"] == job["done"] and job["done"] > 0, job
        verify(s3, model, "cleaned up", True)
        assert not xl_meta_files(srv), "cleanup removed the xl.meta files"

        w.stop_ev.set()
        w.join(10)
        assert not w.errors, w.errors[:5]
        assert w.ops > 50, w.ops
        verify(s3, model, "final")
        # A restart keeps the persisted phase whatever the start-up engine says.
        srv.stop()
        srv.start()
        assert status(srv)["state"]["phase"] == "complete"
        verify(s3, model, "restarted")
    finally:
        srv.cleanup()


def test_rebuild_kv_after_losing_it(tmp_path):
    srv = Server(extra_args=["--metadata-engine", "legacy"], config_text=CONFIG).start()
    try:
        s3 = srv.client()
        model = Model()
        s3.create_bucket(Bucket="plain")
        s3.create_bucket(Bucket="ver")
        s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
        for i in range(200):
            body = os.urandom(100 + i)
            meta = {"i": str(i)}
            b = "ver" if i % 2 else "plain"
            r = s3.put_object(Bucket=b, Key=f"k/{i:03d}", Body=body, Metadata=meta)
            model.put(b, f"k/{i:03d}", body, r, meta)
            if b == "ver":
                model.versions[f"k/{i:03d}"] = [(r["VersionId"], r["ETag"])]
        phase(srv, "fullout")
        srv.admin("migration", "start", "--wait")
        validate_clean(srv)
        srv.stop()
        # The KV is lost: its folder is gone (the migration state with it).
        shutil.rmtree(os.path.join(srv.data, "meta"))
        srv.start()
        assert status(srv)["state"]["phase"] == "legacy", "no stored state: the start-up value"
        verify(s3, model, "KV lost, legacy serves")
        phase(srv, "fullout")
        job = json.loads(srv.admin("--json", "metadata", "rebuild-kv").stdout)
        assert (job["kind"], job["changed"], job["errors"], job["error"]) == ("rebuild-kv", 200, 0, None), job
        assert status(srv)["state"]["migrator_done"]
        validate_clean(srv)
        # The job and the validation after it ran on the background runner.
        workers = {w["name"]: w for w in json.loads(srv.admin("--json", "workers").stdout)}
        assert workers["rebuild-kv"]["state"] == "done" and workers["rebuild-kv"]["units"] >= 200, workers
        assert workers["rebuild-kv"]["leader_only"], workers
        assert workers["validation"]["state"] == "done" and workers["validation"]["errors"] == 0, workers
        phase(srv, "kv_primary")
        verify(s3, model, "rebuilt KV primary")
    finally:
        srv.cleanup()
