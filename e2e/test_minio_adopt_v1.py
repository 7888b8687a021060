"""Objects of MinIO releases before 2020 on an adopted deployment of MinIO's first placement
(CRCMOD): `xl.json` with its `part.N` files beside it, and the same record as a legacy
version inside xl.meta (shards in `legacy/`), assembled by `minio_deploy` (independent of
the server). Listed and read bit-exact by boto3 and aws-cli; one with whole-file bitrot
checksums refused with the reason; replaced and deleted without coming back; kept beside a
new version where MinIO's form allows it and refused where it does not; migrated to the KV
and still read. MinIO's IAM entries are listed by name in the adoption report, not imported."""

import json
import os
import random
import time

import botocore.exceptions
import pytest

import minio_deploy as md
from test_minio_adopt import adopted_server, read_all, read_model


def meta_files(dep, bucket, key):
    """The files of the object's folder on each drive of its set (None where there is no folder,
    including one the server removes while this reads it)."""

    def listing(d):
        try:
            return sorted(os.listdir(md.object_dir(d, bucket, key)))
        except (FileNotFoundError, NotADirectoryError):
            return None

    return [listing(d) for d in dep.set_drives(dep.set_of(key))]


def eventually(check, what, timeout=15):
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, what
        time.sleep(0.1)


def error_of(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    r = e.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def test_minio_v1_objects_are_served_replaced_and_migrated(tmp_path):
    dep = md.Deployment(str(tmp_path / "minio"), sets=2, per_set=4, seed=11, distribution="CRCMOD")
    dep.write_formats()
    dep.make_bucket("old")
    dep.make_bucket("vers", versioning="Enabled")
    rng = random.Random(11)
    v1 = {  # key -> parts, in xl.json
        "old/a.txt": [b"written by MinIO in 2019"],
        "old/dir/big.bin": [rng.randbytes((10 << 20) + 4321)],
        "old/multi.bin": [rng.randbytes(5 << 20), rng.randbytes(1234)],
        "old/empty": [b""],
        "vers/x.bin": [rng.randbytes(70_000)],
    }
    for k, parts in v1.items():
        bucket, key = k.split("/", 1)
        dep.put_xl_json(bucket, key, parts)
    converted = {"old/converted.bin": [rng.randbytes(3 << 20)], "vers/conv.bin": [b"converted by MinIO"]}
    for k, parts in converted.items():
        bucket, key = k.split("/", 1)
        dep.put_v1_in_xl_meta(bucket, key, parts)
    dep.put_xl_json("old", "blake.bin", [b"x" * 5000], checksum="blake2b")
    dep.put("old", "modern.txt", b"a 2024 object")
    model = {k: b"".join(p) for k, p in {**v1, **converted}.items()}
    model["old/modern.txt"] = b"a 2024 object"

    # MinIO's IAM store: its users and policies are objects of .minio.sys (sealed by MinIO).
    for rel in ("users/alice/identity.json", "users/bob/identity.json", "policies/logs-ro/policy.json"):
        d = os.path.join(dep.drives[len(rel) % len(dep.drives)], ".minio.sys", "config", "iam", rel)
        os.makedirs(d)
        with open(os.path.join(d, "xl.meta"), "wb") as f:
            f.write(b"XL2 sealed")
    s = adopted_server(dep, env={"RUSTFS_FREE_DELAY_SECS": "0"}).start()
    try:
        c = s.client()
        info = json.loads(s.admin("--json", "info").stdout)
        iam = [n for n in info["adopted"]["report"]["not_imported"] if "IAM" in n]
        assert len(iam) == 1 and "2 users (alice, bob), 1 policies (logs-ro); not imported" in iam[0], iam
        listed = [o["Key"] for o in c.list_objects_v2(Bucket="old")["Contents"]]
        assert listed == ["a.txt", "blake.bin", "converted.bin", "dir/big.bin", "empty", "modern.txt", "multi.bin"]
        top = c.list_objects_v2(Bucket="old", Delimiter="/")
        assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/"], top
        read_model(c, model)
        h = c.head_object(Bucket="old", Key="multi.bin")
        assert h["ContentLength"] == len(model["old/multi.bin"]) and h["ETag"].endswith('-2"'), h
        assert h["ContentType"] == "application/x-v1"
        big = model["old/dir/big.bin"]
        r = c.get_object(Bucket="old", Key="dir/big.bin", Range="bytes=10485000-10486000")["Body"].read()
        assert r == big[10485000:10486001]
        out = os.path.join(s.tmp, "out")
        s.aws("s3", "cp", "s3://old/dir/big.bin", out)
        with open(out, "rb") as f:
            assert f.read() == big
        status, code, msg = error_of(lambda: c.get_object(Bucket="old", Key="blake.bin"))
        assert (status, code) == (501, "NotImplemented") and "whole-file bitrot checksums (blake2b)" in msg, msg

        status, code, _ = error_of(lambda: c.put_object(Bucket="old", Key="multi.bin/below", Body=b"z"))
        assert (status, code) == (400, "XMinioParentIsObject"), "an xl.json object is an object"
        # Replaced: the new object in MinIO's xl.meta, MinIO's xl.json and part files gone.
        c.put_object(Bucket="old", Key="a.txt", Body=b"rewritten")
        model["old/a.txt"] = b"rewritten"
        assert all(f is not None and "xl.json" not in f and "xl.meta" in f for f in meta_files(dep, "old", "a.txt"))
        got, obj, _, _ = dep.read_object("old", "a.txt")
        assert got == b"rewritten"
        eventually(lambda: all("part.1" not in f for f in meta_files(dep, "old", "a.txt")), "old part files freed")
        # Deleted: gone on every drive, and it stays gone.
        c.delete_object(Bucket="old", Key="multi.bin")
        del model["old/multi.bin"]
        assert all(f is None or "xl.json" not in f for f in meta_files(dep, "old", "multi.bin"))
        eventually(lambda: all(f is None for f in meta_files(dep, "old", "multi.bin")), "its folders removed")
        assert error_of(lambda: c.head_object(Bucket="old", Key="multi.bin"))[0] == 404

        # Versioned: a converted v1 record stays beside a new version; an xl.json one cannot.
        c.put_object(Bucket="vers", Key="conv.bin", Body=b"new version")
        assert c.get_object(Bucket="vers", Key="conv.bin", VersionId="null")["Body"].read() == b"converted by MinIO"
        vs = c.list_object_versions(Bucket="vers", Prefix="conv.bin")["Versions"]
        assert [v["VersionId"] == "null" for v in vs] == [False, True], vs
        model["vers/conv.bin"] = b"new version"
        status, code, msg = error_of(lambda: c.put_object(Bucket="vers", Key="x.bin", Body=b"y"))
        assert (status, code) == (501, "NotImplemented") and "xl.json" in msg, msg
        assert error_of(lambda: c.delete_object(Bucket="vers", Key="x.bin"))[:2] == (501, "NotImplemented")
        assert read_all(c, "vers", "x.bin") == model["vers/x.bin"], "left as it was"

        s.stop()
        s.start()
        c = s.client()
        read_model(c, model)

        # Migrated to the KV: still read, and MinIO's files are still where MinIO keeps them.
        for phase in ("canary", "fullout"):
            s.admin("migration", "phase", phase)
        s.admin("migration", "start", "--wait")
        v = json.loads(s.admin("--json", "validate").stdout)
        assert v["clean"] and v["errors"] == 0, v
        s.admin("migration", "phase", "kv_primary")
        s.admin("migration", "phase", "complete")
        c = s.client()
        read_model(c, model)
        assert error_of(lambda: c.get_object(Bucket="old", Key="blake.bin"))[0] == 501
        c.delete_object(Bucket="vers", Key="x.bin", VersionId="null")
        assert error_of(lambda: c.head_object(Bucket="vers", Key="x.bin"))[0] == 404
        eventually(lambda: all(f is None for f in meta_files(dep, "vers", "x.bin")), "xl.json and part.1 freed")
    finally:
        s.cleanup()
