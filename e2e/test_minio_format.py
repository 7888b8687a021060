"""MinIO-format object data served by the real server. `minio_format.py` (a Python
implementation of MinIO's codec and framing, independent of the server's code) is first
checked against MinIO's own files (the vendored cicd-corpus: its HighwayHash frames, its
parity shards, its object's MD5 = ETag); then it lays objects out on a legacy deployment's
12 drives exactly as MinIO does (xl.meta with MinIO's algorithm ids, distribution and erasure
index on every drive, part files of framed GF(2^8) shards), and aws-cli and boto3 read them
back bit-exact, whole and by range, with four drives' shards gone."""

import os
import random

import botocore.exceptions
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
    # The writer signs versions as MinIO does: the corpus's headers, each drive's the same.
    for disk in range(2, 6):
        with open(os.path.join(CORPUS, f"disk{disk}", "bucket", "testobj", "xl.meta"), "rb") as f:
            versions, _ = mf.read_xl_meta(f.read())
        for header, body in versions:
            assert mf.signature(body["V2Obj"]) == header[2], (disk, header)


DIST = [5, 9, 1, 12, 3, 7, 11, 2, 8, 4, 10, 6]


def place(server, bucket, key, body, data_dir, inline=False):
    """`body` as MinIO writes it on the server's 12 drives (set position i = drive i + 1):
    shard files in `data_dir`, or (`inline`) each drive's shard in its own xl.meta."""
    files = mf.shard_files(body, 8, 4)
    for pos, drive in enumerate(server.drives()):
        shard = DIST[pos]
        d = os.path.join(drive, bucket, key)
        os.makedirs(d if inline else os.path.join(d, data_dir), exist_ok=True)
        meta = mf.xl_meta(data_dir, shard, DIST, len(body), mf.md5_hex(body), 8, 4, 1_760_000_000_000_000_000,
                          inline=files[shard - 1] if inline else None)
        with open(os.path.join(d, "xl.meta"), "wb") as f:
            f.write(meta)
        if not inline:
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


def test_minio_inline_objects_are_rebuilt_from_every_drive_and_rewritten_as_minio_does():
    """MinIO keeps small objects in each drive's xl.meta, one shard per drive: the server
    rebuilds them from the copies (up to four copies' shards corrupt), and when it rewrites
    the xl.meta (a new version beside the MinIO one, a heal) every drive gets back its own
    shard and erasure index, checked here with the independent reader."""
    s = Server(env={"RUSTFS_METADATA_ENGINE": "legacy"}).start()
    try:
        c = s.client()
        c.create_bucket(Bucket="small")
        c.put_bucket_versioning(Bucket="small", VersioningConfiguration={"Status": "Enabled"})
        s.stop()
        rng = random.Random(11)
        bodies = {"one.txt": b"x", "k/1000.bin": rng.randbytes(1000), "k/big.bin": rng.randbytes(100 * 1024 + 7),
                  "empty": b""}
        for key, body in bodies.items():
            place(s, "small", key, body, "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", inline=True)
        # Four drives' copies of k/big.bin with a bit flipped in their shard (the inline data
        # ends the file; the payload's CRC does not cover it).
        for drive in s.drives()[3:7]:
            p = os.path.join(drive, "small", "k/big.bin", "xl.meta")
            with open(p, "r+b") as f:
                f.seek(-100, os.SEEK_END)
                b = f.read(1)
                f.seek(-100, os.SEEK_END)
                f.write(bytes([b[0] ^ 0x40]))
        s.start()
        c = s.client()
        for key, body in bodies.items():
            got = c.get_object(Bucket="small", Key=key)
            assert got["Body"].read() == body, key
            assert got["ETag"].strip('"') == mf.md5_hex(body)
        out = os.path.join(s.tmp, "big.out")
        s.aws("s3", "cp", "s3://small/k/big.bin", out)
        with open(out, "rb") as f:
            assert f.read() == bodies["k/big.bin"]
        r = c.get_object(Bucket="small", Key="k/1000.bin", Range="bytes=10-19")
        assert r["Body"].read() == bodies["k/1000.bin"][10:20]
        # A new version beside MinIO's null version, and a heal of a lost copy: the xl.meta
        # is rewritten on every drive.
        c.put_object(Bucket="small", Key="k/1000.bin", Body=b"newer")
        os.remove(os.path.join(s.drives()[0], "small", "one.txt", "xl.meta"))
        s.admin("heal", "--bucket", "small")
        for key in ("k/1000.bin", "one.txt"):
            files = mf.shard_files(bodies[key], 8, 4)
            for pos, drive in enumerate(s.drives()):
                with open(os.path.join(drive, "small", key, "xl.meta"), "rb") as f:
                    versions, inline = mf.read_xl_meta(f.read())
                minio = [b["V2Obj"] for h, b in versions if b.get("V2Obj", {}).get("EcAlgo") == 1]
                assert len(minio) == 1, (key, pos, versions)
                assert minio[0]["EcIndex"] == DIST[pos], (key, pos)
                assert inline["null"] == files[DIST[pos] - 1], (key, pos)
        got = c.get_object(Bucket="small", Key="k/1000.bin", VersionId="null")["Body"].read()
        assert got == bodies["k/1000.bin"]
        assert c.get_object(Bucket="small", Key="k/1000.bin")["Body"].read() == b"newer"
        # Five copies' shards bad: an error, never other bytes.
        s.stop()
        for drive in s.drives()[:5]:
            p = os.path.join(drive, "small", "one.txt", "xl.meta")
            with open(p, "r+b") as f:
                f.seek(-1, os.SEEK_END)
                b = f.read(1)
                f.seek(-1, os.SEEK_END)
                f.write(bytes([b[0] ^ 1]))
        s.start()
        # As for any object with more than parity shards unreadable: 503, retry later (a
        # drive coming back may make it readable), never other bytes.
        c = s.client()
        with pytest.raises(botocore.exceptions.ClientError) as e:
            c.get_object(Bucket="small", Key="one.txt")["Body"].read()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.value
        assert e.value.response["Error"]["Code"] == "ServiceUnavailable", e.value
    finally:
        s.cleanup()
