"""aws-cli walk-through: mb, cp (including a 200 MiB multipart upload), ls, sync, rm,
presign, and s3api calls; round trips compared by SHA-256."""

import hashlib
import json
import os
import urllib.request

from conftest import sha256


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_cli_walkthrough(server, tmp_path):
    server.aws("s3", "mb", "s3://cli-bucket")
    assert "cli-bucket" in server.aws("s3", "ls").stdout.decode()
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub/b.bin": os.urandom(300_000), "sub/c.bin": os.urandom(9 << 20)}
    for name, data in files.items():
        (src / name).write_bytes(data)
    server.aws("s3", "sync", str(src), "s3://cli-bucket/tree", "--only-show-errors")
    ls = server.aws("s3", "ls", "s3://cli-bucket/tree/", "--recursive").stdout.decode()
    for name in files:
        assert f"tree/{name}" in ls
    dst = tmp_path / "dst"
    server.aws("s3", "sync", "s3://cli-bucket/tree", str(dst), "--only-show-errors")
    for name, data in files.items():
        assert sha256((dst / name).read_bytes()) == sha256(data), name
    # A second sync uploads nothing.
    out = server.aws("s3", "sync", str(src), "s3://cli-bucket/tree").stdout.decode()
    assert "upload:" not in out
    url = server.aws("s3", "presign", "s3://cli-bucket/tree/a.txt", "--expires-in", "60").stdout.decode().strip()
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"alpha"
    head = json.loads(server.aws("s3api", "head-object", "--bucket", "cli-bucket", "--key", "tree/a.txt").stdout)
    assert head["ContentLength"] == 5
    server.aws("s3", "rm", "s3://cli-bucket/tree", "--recursive", "--only-show-errors")
    assert server.aws("s3", "ls", "s3://cli-bucket/tree/", check=False).stdout == b""
    server.aws("s3", "rb", "s3://cli-bucket")


def test_cli_200mib_multipart(server, tmp_path):
    server.aws("s3", "mb", "s3://cli-big")
    big = tmp_path / "big"
    with open(big, "wb") as f:
        for _ in range(200):
            f.write(os.urandom(1 << 20))
    server.aws("s3", "cp", str(big), "s3://cli-big/big", "--only-show-errors")
    head = json.loads(server.aws("s3api", "head-object", "--bucket", "cli-big", "--key", "big").stdout)
    assert head["ContentLength"] == 200 << 20
    assert head["ETag"].strip('"').endswith("-25"), head["ETag"]
    back = tmp_path / "back"
    server.aws("s3", "cp", "s3://cli-big/big", str(back), "--only-show-errors")
    assert file_sha256(back) == file_sha256(big)
