"""MinIO-format object data served by the real server. `minio_format.py` (a Python
implementation of MinIO's codec and framing, independent of the server's code) is first
checked against MinIO's own files (the vendored cicd-corpus: its HighwayHash frames, its
parity shards, its object's MD5 = ETag); then it lays objects out on a legacy deployment's
12 drives exactly as MinIO does (xl.meta with MinIO's algorithm ids, distribution and erasure
index on every drive, part files of framed GF(2^8) shards), and aws-cli and boto3 read them
back bit-exact, whole and by range, with four drives' shards gone."""

import os
import random

import pytest

import minio_format as mf
from conftest import ROOT, Server

CORPUS = os.path.join(ROOT, "crates", "ecstore", "tests", "fixtures", "minio", "cicd-corpus")
# The corpus's version: on disk i (set position i - 1) the shard of distribution [3, 4, 5, 1, 2].
CORPUS_DIR = "2b4f7e41-df82-4a5e-a3c1-8df87f83332f"
CORPUS_SHARD_DISKS = [4, 5, 1, 2, 3]


def corpus_shards():
    assert os.path.isdir(CORPUS), f"the vendored corpus {CORPUS} is missing"
    files = {}
    for d in range(1, 6):
        with open(os.path.join(CORPUS, f"disk{d}", "bucket", "testobj", CORPUS_DIR, "part.1"), "rb") as f:
            files[d] = f.read()
    return [files[d] for d in CORPUS_SHARD_DISKS]


def test_the_python_codec_reproduces_minio_files():
    shards = corpus_shards()
    assert all(mf.highway256(f[32:]) == f[:32] for f in shards), "MinIO's frames verify"
    data = [f[32:] for f in shards]
    encoded = mf.encode(b"".join(data[:3]), 3, 2)
    assert encoded[3:] == data[3:], "the parity shards MinIO computed"
    for lost in ([0, 1], [1, 3], [2, 4], [0, 4]):
        files = [None if i in lost else f for i, f in enumerate(shards)]
        assert mf.md5_hex(mf.read_part(files, 644_520, 3, 2)) == "9587ddd31fead633830366f45d221d56"
    bad = list(shards)
    bad[0] = bad[0][:100] + bytes([bad[0][100] ^ 1]) + bad[0][101:]
    bad[1] = None
    bad[2] = None
    with pytest.raises(ValueError):
        mf.read_part(bad, 644_520, 3, 2)


DIST = [5, 9, 1, 12, 3, 7, 11, 2, 8, 4, 10, 6]


def place(server, bucket, key, body, data_dir):
    """`body` as MinIO writes it on the server's 12 drives (set position i = drive i + 1)."""
    files = mf.shard_files(body, 8, 4)
    for pos, drive in enumerate(server.drives()):
        shard = DIST[pos]
        d = os.path.join(drive, bucket, key)
        os.makedirs(os.path.join(d, data_dir), exist_ok=True)
        meta = mf.xl_meta(data_dir, shard, DIST, len(body), mf.md5_hex(body), 8, 4, 1_760_000_000_000_000_000)
        with open(os.path.join(d, "xl.meta"), "wb") as f:
            f.write(meta)
        with open(os.path.join(d, data_dir, "part.1"), "wb") as f:
            f.write(files[shard - 1])


def test_minio_format_objects_are_served_bit_exact():
    s = Server(env={"RUSTFS_METADATA_ENGINE": "legacy"}).start()
    try:
        s.client().create_bucket(Bucket="adopted")
        s.stop()
        rng = random.Random(7)
        # Sizes whose shards end in every shape of HighwayHash remainder (0, 3, 17, 24 bytes
        # past a multiple of 32), one block and several.
        sizes = {"a/one-block.bin": 8 * (32 * 100 + 3), "a/b/three-blocks.bin": 2 * (1 << 20) + 8 * (32 * 10 + 17),
                 "tail24.bin": 8 * (32 * 7 + 24), "exact.bin": 1 << 20}
        bodies = {}
        for i, (key, size) in enumerate(sizes.items()):
            bodies[key] = rng.randbytes(size)
            place(s, "adopted", key, bodies[key], f"0c5a9b2e-2f39-4d36-9a51-1f0e3c7d8a4{i}")
        s.start()
        for key, body in bodies.items():
            out = os.path.join(s.tmp, "out.bin")
            s.aws("s3", "cp", f"s3://adopted/{key}", out)
            with open(out, "rb") as f:
                assert f.read() == body, key
            head = s.client().head_object(Bucket="adopted", Key=key)
            assert head["ETag"].strip('"') == mf.md5_hex(body)
        r = s.client().get_object(Bucket="adopted", Key="a/b/three-blocks.bin", Range="bytes=1000000-2100000")
        assert r["Body"].read() == bodies["a/b/three-blocks.bin"][1_000_000:2_100_001]
        listed = s.client().list_objects_v2(Bucket="adopted")["Contents"]
        assert sorted(o["Key"] for o in listed) == sorted(bodies)
        # Four drives' shards gone: every remaining frame must verify for the read to work.
        for key in bodies:
            for drive in s.drives()[:4]:
                d = os.path.join(drive, "adopted", key)
                for sub in os.listdir(d):
                    p = os.path.join(d, sub, "part.1")
                    if os.path.exists(p):
                        os.remove(p)
        for key, body in bodies.items():
            assert s.client().get_object(Bucket="adopted", Key=key)["Body"].read() == body, key
    finally:
        s.cleanup()
