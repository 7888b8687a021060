"""The key zoo: keys S3 allows that look like paths, internal names or layout tricks, through
every operation on the KV engine (PUT inline and erasure-coded, GET, HEAD, copy, multipart,
versions, listings with and without a delimiter, delete), then garbage collection after its
grace, heal of a wiped drive and a restart, with every object read back bit-exact. On the
legacy engine (MinIO's layout and key rules) the same keys are either stored or refused
with MinIO's error, and no two keys ever share files."""

import json
import os
import shutil
import time

import pytest
from botocore.exceptions import ClientError

from conftest import Server, error_code, sha256, shard_files, status

MIB = 1 << 20
LEGACY = os.environ.get("RUSTFS_METADATA_ENGINE") == "legacy"

ZOO = [
    "plain",
    "a//b",
    "./x",
    "../x",
    "a/./b/../c",
    "x__XLDIR__",
    "x/",
    "x",
    "x/xl.meta",
    "a",
    "a/xl.meta",
    ".rustfs.sys/x",
    ".rustfs.sys/tmp/y",
    "dir/",
    "dir//",
    "exports/3f2b8c1e-6a1d-4d7e-9c1a-0b2c3d4e5f60/part.0.parquet",
    "f0e1d2c3b4a5968778695a4b3c2d1e0f/part.1",
    "seg/" + "s" * 300 + "/end",
    "日本語/キー ✓",
    "spaces and %25 + ? # & = ;",
    "emoji/\U0001F600\U0001F680",
    "k" * 1000 + "/" + "é" * 11,
]
assert all(1 <= len(k.encode()) <= 1024 for k in ZOO)

# What MinIO's layout refuses (the legacy engine's documented rules).
LEGACY_REFUSED = {"a//b", "./x", "../x", "a/./b/../c", "x__XLDIR__", "x/xl.meta", "a/xl.meta", "dir//",
                  "seg/" + "s" * 300 + "/end", "k" * 1000 + "/" + "é" * 11}


def body(key, size):
    seed = sha256(key.encode()).encode()
    return (seed * (size // len(seed) + 1))[:size]


def keys_of(s3, bucket, **kw):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kw):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def prefixes_of(s3, bucket, **kw):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kw):
        out += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return out


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode())


@pytest.mark.skipif(LEGACY, reason="the KV engine's zoo; the legacy engine has its own test below")
def test_key_zoo_on_the_kv_engine():
    srv = Server(env={"RUSTFS_GC_GRACE_SECS": "1", "RUSTFS_GC_INTERVAL_SECS": "3600"}).start()
    try:
        s3 = srv.client()
        for b in ["zoo", "zoo-inline", "zoo-copy", "zoo-mp", "zoo-v"]:
            s3.create_bucket(Bucket=b)
        s3.put_bucket_versioning(Bucket="zoo-v", VersioningConfiguration={"Status": "Enabled"})
        want = {}  # (bucket, key) -> bytes

        for k in ZOO:
            want[("zoo", k)] = body(k, 300 * 1024 + len(k))
            s3.put_object(Bucket="zoo", Key=k, Body=want[("zoo", k)])
            want[("zoo-inline", k)] = body(k, 100 + len(k))
            s3.put_object(Bucket="zoo-inline", Key=k, Body=want[("zoo-inline", k)])
            s3.copy_object(Bucket="zoo-copy", Key=k, CopySource={"Bucket": "zoo", "Key": k})
            want[("zoo-copy", k)] = want[("zoo", k)]
        for k in ZOO[:8]:
            up = s3.create_multipart_upload(Bucket="zoo-mp", Key=k)["UploadId"]
            p1, p2 = body(k, 5 * MIB), body(k + "2", 1000)
            e1 = s3.upload_part(Bucket="zoo-mp", Key=k, UploadId=up, PartNumber=1, Body=p1)["ETag"]
            e2 = s3.upload_part_copy(Bucket="zoo-mp", Key=k, UploadId=up, PartNumber=2,
                                     CopySource={"Bucket": "zoo-inline", "Key": k})["CopyPartResult"]["ETag"]
            s3.complete_multipart_upload(Bucket="zoo-mp", Key=k, UploadId=up, MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
            want[("zoo-mp", k)] = p1 + want[("zoo-inline", k)]
            del p2
        versions = {}
        for k in ZOO[:6]:
            v1 = s3.put_object(Bucket="zoo-v", Key=k, Body=body(k, 200 * 1024))["VersionId"]
            v2 = s3.put_object(Bucket="zoo-v", Key=k, Body=body(k + "v2", 64))["VersionId"]
            versions[k] = {v1: body(k, 200 * 1024), v2: body(k + "v2", 64)}
        s3.delete_object(Bucket="zoo-v", Key=ZOO[0])  # a delete marker on top

        def check_all(stage):
            for (b, k), data in want.items():
                got = s3.get_object(Bucket=b, Key=k)["Body"].read()
                assert got == data, (stage, b, k)
                assert s3.head_object(Bucket=b, Key=k)["ContentLength"] == len(data), (stage, b, k)
            for k, vs in versions.items():
                for vid, data in vs.items():
                    assert s3.get_object(Bucket="zoo-v", Key=k, VersionId=vid)["Body"].read() == data, (stage, k)
            for b in ["zoo", "zoo-inline", "zoo-copy"]:
                assert keys_of(s3, b) == utf8_sorted(ZOO), (stage, b)
            assert keys_of(s3, "zoo-mp") == utf8_sorted(ZOO[:8]), stage
            expected_prefixes = sorted({k[:k.index("/") + 1] for k in ZOO if "/" in k}, key=lambda p: p.encode())
            assert prefixes_of(s3, "zoo", Delimiter="/") == expected_prefixes, stage
            assert keys_of(s3, "zoo", Delimiter="/") == utf8_sorted([k for k in ZOO if "/" not in k]), stage
            assert keys_of(s3, "zoo", Prefix="a/") == utf8_sorted([k for k in ZOO if k.startswith("a/")]), stage
            listed = s3.list_object_versions(Bucket="zoo-v")
            vids = {(v["Key"], v["VersionId"]) for v in listed.get("Versions", [])}
            assert vids == {(k, vid) for k, vs in versions.items() for vid in vs}, stage
            markers = [(m["Key"], m["IsLatest"]) for m in listed.get("DeleteMarkers", [])]
            assert markers == [(ZOO[0], True)], stage

        check_all("written")
        # Nothing on disk is named after a key.
        for d in srv.drives():
            assert sorted(os.listdir(d)) == [".rustfs.sys"], os.listdir(d)
        # Garbage collection after its grace removes nothing any of them references.
        time.sleep(1.5)
        report = json.loads(srv.admin("--json", "gc").stdout)
        assert report["data_dirs_removed"] == 0 and report["data_dirs_seen"] > 0, report
        check_all("after gc")
        # A wiped drive is healed back.
        before = len(shard_files(srv))
        shutil.rmtree(os.path.join(srv.drives()[2], ".rustfs.sys", "data"))
        assert len(shard_files(srv)) < before
        srv.admin("heal")
        assert len(shard_files(srv)) == before
        check_all("after heal")
        srv.stop()
        srv.start()
        check_all("after restart")
        # Deleting everything leaves no shard behind (after the free delay and gc).
        for (b, k) in want:
            s3.delete_object(Bucket=b, Key=k)
        for k, vs in versions.items():
            for vid in vs:
                s3.delete_object(Bucket="zoo-v", Key=k, VersionId=vid)
        time.sleep(2.5)
        json.loads(srv.admin("--json", "gc").stdout)
        assert shard_files(srv) == []
    finally:
        srv.cleanup()


@pytest.mark.skipif(not LEGACY, reason="the legacy engine's key rules")
def test_key_zoo_on_the_legacy_engine():
    srv = Server().start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="zoo")
        stored = {}
        for k in ZOO:
            data = body(k, 200 * 1024)
            if k in LEGACY_REFUSED:
                with pytest.raises(ClientError) as e:
                    s3.put_object(Bucket="zoo", Key=k, Body=data)
                assert (status(e), error_code(e)) == (400, "XMinioInvalidObjectName"), k
                continue
            s3.put_object(Bucket="zoo", Key=k, Body=data)
            stored[k] = data
        assert len(stored) == len(ZOO) - len(LEGACY_REFUSED)
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket="zoo", Key="a/b", Body=b"under an object")
        assert (status(e), error_code(e)) == (400, "XMinioParentIsObject")
        for k, data in stored.items():
            assert s3.get_object(Bucket="zoo", Key=k)["Body"].read() == data, k
        assert keys_of(s3, "zoo") == utf8_sorted(stored)
    finally:
        srv.cleanup()
