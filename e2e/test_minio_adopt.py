"""A MinIO deployment adopted in place: drives assembled as MinIO lays them out (each
drive's format.json, SIPMOD set placement, objects in part files and inline, bucket
metadata in .minio.sys, and MinIO's own corpus object with its shards), started with
`rustfs server --drives`, read by aws-cli and boto3 bit-exact, written in MinIO's format
(checked by `minio_deploy`'s reader, independent of the server), then migrated to the KV
under a writer with the validator clean and every object intact."""

import hashlib
import json
import os
import random
import shutil
import threading
import time
import uuid

import minio_deploy as md
from conftest import ROOT, Server

CORPUS = os.path.join(ROOT, "crates", "ecstore", "tests", "fixtures", "minio", "cicd-corpus")
POLICY = '{"Version":"2012-10-17","Statement":[]}'


def adopted_server(dep, shuffle=True, env=None):
    drives = list(dep.drives)
    if shuffle:
        random.Random(3).shuffle(drives)
    e = {"RUSTFS_METADATA_ENGINE": "legacy"}
    e.update(env or {})
    return Server(extra_args=["--drives", *drives], env=e)


def read_all(c, bucket, key):
    return c.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_model(c, model):
    """Every `bucket/key` of `model` reads back as its bytes."""
    for k, body in model.items():
        bucket, key = k.split("/", 1)
        assert read_all(c, bucket, key) == body, k


def test_a_minio_deployment_is_adopted_read_written_in_minio_format_and_migrated(tmp_path):
    dep = md.Deployment(str(tmp_path / "minio"), sets=1, per_set=5)
    dep.write_formats()
    # MinIO's corpus object (a 3+2 set: disk i is set position i - 1).
    for i in range(5):
        shutil.copytree(os.path.join(CORPUS, f"disk{i + 1}", "bucket"), os.path.join(dep.drives[i], "bucket"))
    rng = random.Random(5)
    dep.make_bucket("photos", versioning="Enabled", policy=POLICY)
    model = {"photos/big/3mib.bin": rng.randbytes(3 * (1 << 20) + 17), "photos/small.txt": b"hello MinIO",
             "photos/dir/200k": rng.randbytes(200 * 1024), "photos/empty": b"", "photos/dir/": b""}
    for k, body in model.items():
        bucket, key = k.split("/", 1)
        dep.put(bucket, key, body)
    s = adopted_server(dep).start()
    try:
        c = s.client()
        info = json.loads(s.admin("--json", "info").stdout)
        a = info["adopted"]
        assert a["report"]["deployment_id"] == dep.id and a["minio_writes"], a
        assert (a["report"]["drives_per_set"], a["report"]["data"], a["report"]["parity"]) == (5, 3, 2)
        assert info["deployment_id"] == dep.id
        photos = next(b for b in a["buckets"] if b["name"] == "photos")
        assert photos["versioning"] == "enabled" and photos["kept"] == ["bucket policy"], photos
        assert all(d["state"] == "online" for d in info["drives"]), info["drives"]
        text = s.admin("info").stdout.decode()
        assert "adopted:" in text and "kept, not applied: bucket policy" in text, text
        assert sorted(b["Name"] for b in c.list_buckets()["Buckets"]) == ["bucket", "photos"]
        assert c.get_bucket_versioning(Bucket="photos")["Status"] == "Enabled"
        for k, body in model.items():
            bucket, key = k.split("/", 1)
            out = os.path.join(s.tmp, "out")
            if not key.endswith("/"):
                s.aws("s3", "cp", f"s3://{k}", out)
                with open(out, "rb") as f:
                    assert f.read() == body, k
            assert read_all(c, bucket, key) == body, k
        # The corpus object: its newest version has shards on two drives only (an error),
        # the older one is whole (its MD5 is its ETag).
        vs = c.list_object_versions(Bucket="bucket")["Versions"]
        older = min(vs, key=lambda v: v["LastModified"])
        got = c.get_object(Bucket="bucket", Key="testobj", VersionId=older["VersionId"])["Body"].read()
        assert hashlib.md5(got).hexdigest() == older["ETag"].strip('"') == "9587ddd31fead633830366f45d221d56"

        # Written in MinIO's format: inline, part files, and a new version beside MinIO's.
        written = {"photos/new/small": b"x" * 1000, "photos/new/2mib": rng.randbytes(2 * (1 << 20) + 5),
                   "photos/small.txt": b"overwritten by rustfs"}
        for k, body in written.items():
            bucket, key = k.split("/", 1)
            c.put_object(Bucket=bucket, Key=key, Body=body)
        model.update(written)
        s.stop()
        for k, body in written.items():
            bucket, key = k.split("/", 1)
            got, obj, header, copies = dep.read_object(bucket, key)
            assert got == body, k
            assert (obj["EcAlgo"], obj["CSumAlgo"], obj["EcM"], obj["EcN"]) == (1, 1, 3, 2), obj
            assert obj["EcDist"] == md.hash_order(k, 5), (k, obj["EcDist"])
            assert len(copies) == 5
            assert obj["MetaUsr"]["etag"] == hashlib.md5(body).hexdigest()
        _, obj, _, copies = dep.read_object("photos", "small.txt")
        assert len(copies[0][1]) == 2, "MinIO's null version is kept beside the new one"
        s.start()
        c = s.client()
        read_model(c, model)
        assert read_all_version(c, "photos", "small.txt", "null") == b"hello MinIO"

        # The migration, under a writer, to complete.
        stop = threading.Event()
        errors, wrote = [], {}

        def writer():
            i = 0
            w = s.client()
            while not stop.is_set():
                k = f"live/{i % 40}"
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
            time.sleep(0.3)
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
        info = json.loads(s.admin("--json", "info").stdout)
        assert not info["adopted"]["minio_writes"], "our own format after complete"
        c.put_object(Bucket="photos", Key="after/complete", Body=b"ours")
        model["photos/after/complete"] = b"ours"
        read_model(c, model)
        s.stop()
        s.start()
        c = s.client()
        read_model(c, model)
    finally:
        s.cleanup()


def read_all_version(c, bucket, key, vid):
    return c.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read()


def test_two_sets_are_placed_by_minio_siphash(tmp_path):
    """Two sets of four (2+2): MinIO's objects found on the set SipHash names, new objects
    written there too, as the independent reader finds them."""
    dep = md.Deployment(str(tmp_path / "minio"), sets=2, per_set=4, seed=9)
    dep.write_formats()
    dep.make_bucket("data")
    rng = random.Random(8)
    model = {f"k/{i}": rng.randbytes(rng.choice([10, 70_000, 300_000])) for i in range(12)}
    assert {dep.set_of(k) for k in model} == {0, 1}, "keys on both sets"
    for k, body in model.items():
        dep.put("data", k, body)
    s = adopted_server(dep).start()
    try:
        c = s.client()
        for k, body in model.items():
            assert read_all(c, "data", k) == body, k
        listed = [o["Key"] for o in c.list_objects_v2(Bucket="data")["Contents"]]
        assert listed == sorted(model), listed
        new = {f"n/{i}": rng.randbytes(rng.choice([10, 300_000])) for i in range(8)}
        for k, body in new.items():
            c.put_object(Bucket="data", Key=k, Body=body)
        s.stop()
        for k, body in new.items():
            got, obj, _, _ = dep.read_object("data", k)
            assert got == body and (obj["EcM"], obj["EcN"]) == (2, 2), k
    finally:
        s.cleanup()


def test_objects_minio_compressed_or_encrypted_are_refused_with_the_reason(tmp_path):
    """Objects MinIO stored compressed (S2) or encrypted (SSE-S3, SSE-KMS, SSE-C): listed and
    HEAD with the size the client wrote, but a GET answers 501 NotImplemented naming the
    reason, never the stored bytes; through the migration to complete, and MinIO's keys stay
    in its xl.meta (nothing written over them)."""
    import botocore.exceptions
    import pytest

    dep = md.Deployment(str(tmp_path / "minio"), sets=1, per_set=4, seed=4)
    dep.write_formats()
    dep.make_bucket("data")
    size = {b"X-Minio-Internal-actual-size": b"5000"}
    cases = {
        "s2/inline": ({"X-Minio-Internal-compression": b"klauspost/compress/s2"}, "compressed by MinIO", 100),
        "s2/parts": ({"X-Minio-Internal-compression": b"klauspost/compress/s2"}, "compressed by MinIO", 200_000),
        "sse-s3": ({"X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key": b"c2VhbGVk"}, "SSE-S3", 300),
        "sse-kms": ({"X-Minio-Internal-Server-Side-Encryption-Kms-Key-Id": b"k1"}, "SSE-KMS", 300_000),
        "sse-c": ({"X-Minio-Internal-Server-Side-Encryption-Sealed-Key": b"c2VhbGVk"}, "SSE-C", 400),
    }
    rng = random.Random(2)
    for k, (meta, _, n) in cases.items():
        sys_meta = {name.decode() if isinstance(name, bytes) else name: v for name, v in {**size, **meta}.items()}
        dep.put("data", k, rng.randbytes(n), meta_sys=sys_meta)
    dep.put("data", "plain", b"plain bytes")
    before = {k: open(os.path.join(md.object_dir(dep.drives[0], "data", k), "xl.meta"), "rb").read() for k in cases}

    def check(c):
        assert read_all(c, "data", "plain") == b"plain bytes"
        listed = {o["Key"]: o["Size"] for o in c.list_objects_v2(Bucket="data")["Contents"]}
        for k, (_, reason, _) in cases.items():
            assert listed[k] == 5000, (k, listed)
            assert c.head_object(Bucket="data", Key=k)["ContentLength"] == 5000, k
            with pytest.raises(botocore.exceptions.ClientError) as e:
                c.get_object(Bucket="data", Key=k)
            err = e.value.response
            assert err["ResponseMetadata"]["HTTPStatusCode"] == 501, (k, err)
            assert err["Error"]["Code"] == "NotImplemented" and reason in err["Error"]["Message"], (k, err)

    s = adopted_server(dep).start()
    try:
        check(s.client())
        for phase in ("canary", "fullout"):
            s.admin("migration", "phase", phase)
        s.admin("migration", "start", "--wait")
        v = json.loads(s.admin("--json", "validate").stdout)
        assert v["clean"], v
        s.admin("migration", "phase", "kv_primary")
        s.admin("migration", "phase", "complete")
        check(s.client())
        s.stop()
        for k in cases:
            after = open(os.path.join(md.object_dir(dep.drives[0], "data", k), "xl.meta"), "rb").read()
            assert after == before[k], f"{k}: MinIO's xl.meta (and its keys) left as it was"
    finally:
        s.cleanup()


def test_multipart_objects_are_written_as_minio_names_them(tmp_path):
    """A multipart upload on an adopted deployment: its parts (one re-uploaded) are named
    `part.<n>` in the object's data dir as MinIO reads them, decoded by the independent
    reader; an upload begun in MinIO's format and completed after the migration completed
    keeps that format for every part."""
    dep = md.Deployment(str(tmp_path / "minio"), sets=1, per_set=4, seed=6)
    dep.write_formats()
    dep.make_bucket("data")
    rng = random.Random(6)
    five = 5 << 20
    s = adopted_server(dep).start()
    try:
        c = s.client()
        up = c.create_multipart_upload(Bucket="data", Key="mp/obj")["UploadId"]
        bodies = [rng.randbytes(five), rng.randbytes(five), rng.randbytes(1 << 20)]
        etags = []
        for n, b in enumerate(bodies, 1):
            etags.append(c.upload_part(Bucket="data", Key="mp/obj", UploadId=up, PartNumber=n, Body=b)["ETag"])
        bodies[1] = rng.randbytes(five + 7)
        etags[1] = c.upload_part(Bucket="data", Key="mp/obj", UploadId=up, PartNumber=2, Body=bodies[1])["ETag"]
        parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
        c.complete_multipart_upload(Bucket="data", Key="mp/obj", UploadId=up, MultipartUpload={"Parts": parts})
        whole = b"".join(bodies)
        assert read_all(c, "data", "mp/obj") == whole
        # An upload begun now, finished after the migration completes.
        late = c.create_multipart_upload(Bucket="data", Key="mp/late")["UploadId"]
        late_bodies = [rng.randbytes(five), rng.randbytes(300_000)]
        late_etags = [c.upload_part(Bucket="data", Key="mp/late", UploadId=late, PartNumber=1,
                                    Body=late_bodies[0])["ETag"]]
        s.stop()
        got, obj, _, copies = dep.read_object("data", "mp/obj")
        assert got == whole, "MinIO's layout, read by the independent reader"
        assert obj["PartNums"] == [1, 2, 3] and obj["PartSizes"] == [len(b) for b in bodies], obj
        assert obj["MetaUsr"]["etag"].endswith("-3")
        for drive, _, _ in copies:
            key_dir = md.object_dir(drive, "data", "mp/obj")
            dirs = [e for e in os.listdir(key_dir) if e != "xl.meta"]
            assert len(dirs) == 1, (drive, dirs)
            assert sorted(os.listdir(os.path.join(key_dir, dirs[0]))) == ["part.1", "part.2", "part.3"]
        s.start()
        c = s.client()
        for phase in ("canary", "fullout"):
            s.admin("migration", "phase", phase)
        s.admin("migration", "start", "--wait")
        s.admin("migration", "phase", "kv_primary")
        v = json.loads(s.admin("--json", "validate").stdout)
        assert v["clean"], v
        s.admin("migration", "phase", "complete")
        late_etags.append(c.upload_part(Bucket="data", Key="mp/late", UploadId=late, PartNumber=2,
                                        Body=late_bodies[1])["ETag"])
        parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(late_etags, 1)]
        c.complete_multipart_upload(Bucket="data", Key="mp/late", UploadId=late, MultipartUpload={"Parts": parts})
        assert read_all(c, "data", "mp/late") == b"".join(late_bodies)
        assert read_all(c, "data", "mp/obj") == whole
        s.stop()
        s.start()
        assert read_all(s.client(), "data", "mp/late") == b"".join(late_bodies)
    finally:
        s.cleanup()


def tree(root):
    """Every file under `root`: its relative path and bytes."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def test_heal_and_gc_on_an_adopted_deployment_keep_minio_format_and_leave_minio_sys_alone(tmp_path):
    """A drive that lost a bucket's folder and a shard with a flipped bit are healed in
    MinIO's format: every drive's xl.meta and part file come back as MinIO wrote them
    (checked against the independent writer's files), and GC (grace 0) with MinIO's own
    multipart uploads, tmp files and config in `.minio.sys` leaves all of it as it was."""
    dep = md.Deployment(str(tmp_path / "minio"), sets=1, per_set=5, seed=7)
    dep.write_formats()
    dep.make_bucket("photos")
    rng = random.Random(7)
    model = {"big": rng.randbytes(3 * (1 << 20) + 17), "mid": rng.randbytes(300_000), "small": b"inline" * 10}
    for k, body in model.items():
        dep.put("photos", k, body)
    # MinIO's own files: config, an upload in progress, tmp leftovers (a day old, so that no
    # grace period protects them).
    dep.put(md.MINIO_SYS, "config/config.json", b'{"version":"33"}', inline=True)
    dep.put(md.MINIO_SYS, "buckets/.usage.json", b"{}", inline=True)
    upload = os.path.join("multipart", hashlib.sha256(b"photos/up").hexdigest(), str(random.Random(1).getrandbits(64)))
    for d in dep.drives:
        os.makedirs(os.path.join(d, md.MINIO_SYS, upload, "0c5a9b2e-2f39-4d36-9a51-1f0e3c7d8a42"), exist_ok=True)
        with open(os.path.join(d, md.MINIO_SYS, upload, "xl.meta"), "wb") as f:
            f.write(b"XL2 upload")
        with open(os.path.join(d, md.MINIO_SYS, upload, "0c5a9b2e-2f39-4d36-9a51-1f0e3c7d8a42", "part.1"), "wb") as f:
            f.write(rng.randbytes(1000))
        os.makedirs(os.path.join(d, md.MINIO_SYS, "tmp", "4f9e2c1a-0000-4000-8000-000000000001"), exist_ok=True)
        with open(os.path.join(d, md.MINIO_SYS, "tmp", "4f9e2c1a-0000-4000-8000-000000000001", "part.1"), "wb") as f:
            f.write(b"MinIO's tmp")
    day_ago = time.time() - 86400
    for d in dep.drives:
        for root, dirs, files in os.walk(d):
            for name in dirs + files:
                os.utime(os.path.join(root, name), (day_ago, day_ago))
    minio_sys = {d: tree(os.path.join(d, md.MINIO_SYS)) for d in dep.drives}
    written = {k: dep.read_object("photos", k)[3] for k in model}

    def expect_as_minio_wrote(k, body):
        got, obj, _, copies = dep.read_object("photos", k)
        assert got == body, k
        assert len(copies) == 5, (k, [c[0] for c in copies])
        files = md.mf.shard_files(body, 3, 2)
        dist = md.hash_order(f"photos/{k}", 5)
        for pos, (drive, versions, inline) in enumerate(copies):
            o = versions[0][1]["V2Obj"]
            assert o["EcIndex"] == dist[pos] and o["EcDist"] == dist, (k, pos)
            if inline:
                assert inline["null"] == files[dist[pos] - 1], (k, pos)
            else:
                p = os.path.join(md.object_dir(drive, "photos", k), str(uuid.UUID(bytes=o["DDir"])), "part.1")
                with open(p, "rb") as f:
                    assert f.read() == files[dist[pos] - 1], (k, pos)

    for k, body in model.items():
        expect_as_minio_wrote(k, body)
    # The second drive loses the bucket's folder; a shard of "big" on the fourth rots.
    shutil.rmtree(os.path.join(dep.drives[1], "photos"))
    os.makedirs(os.path.join(dep.drives[1], "photos"))
    _, obj, _, _ = dep.read_object("photos", "big")
    rot = os.path.join(md.object_dir(dep.drives[3], "photos", "big"), str(uuid.UUID(bytes=obj["DDir"])), "part.1")
    with open(rot, "r+b") as f:
        f.seek(32 + 1000)
        b = f.read(1)
        f.seek(32 + 1000)
        f.write(bytes([b[0] ^ 0x20]))
    s = adopted_server(dep, env={"RUSTFS_GC_GRACE_SECS": "0"}).start()
    try:
        # Healed before any read (a degraded read would queue its own heal): the part files
        # of "big" (two) and "mid", and the xl.meta of all three on the second drive.
        out = json.loads(s.admin("--json", "heal", "--bucket", "photos").stdout)
        assert (out["objects_failed"], out["objects_healed"], out["shards_healed"]) == (0, 2, 3), out
        c = s.client()
        for k, body in model.items():
            assert read_all(c, "photos", k) == body, k
        gc = json.loads(s.admin("--json", "gc").stdout)
        assert gc["data_dirs_removed"] == 0, gc
        s.stop()
        for k, body in model.items():
            expect_as_minio_wrote(k, body)
        assert {d: tree(os.path.join(d, md.MINIO_SYS)) for d in dep.drives} == minio_sys
        for k, copies in written.items():
            for drive, versions, _ in copies:
                if drive == dep.drives[1]:
                    continue
                # Rewritten with the heal of the second drive's copy, as MinIO would decode
                # it: the same fields and the same signature in the header.
                now = dep.read_object("photos", k)[3][dep.drives.index(drive)][1]
                assert now == versions, (k, drive, now, versions)
        s.start()
        c = s.client()
        for k, body in model.items():
            assert read_all(c, "photos", k) == body, k
    finally:
        s.cleanup()
