"""Drive layouts and drive trouble: 24 drives in two erasure sets, swapped drives, a drive
that vanishes while the server runs, and SIGTERM with an upload in flight."""

import glob
import json
import os
import shutil
import signal
import socket
import threading
import time

import pytest

from conftest import Server, sha256
from rawhttp import signed_headers


def test_24_drives_two_sets(tmp_path):
    drives = [str(tmp_path / f"d{i}") for i in range(24)]
    srv = Server(extra_args=["--drives", *drives]).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="two-sets")
        objs = {}
        for i in range(20):
            data = os.urandom(200 * 1024 + i)
            s3.put_object(Bucket="two-sets", Key=f"k{i}", Body=data)
            objs[f"k{i}"] = sha256(data)
        used = [d for d in drives if glob.glob(os.path.join(d, "two-sets", "**", "part.*"), recursive=True)
                or glob.glob(os.path.join(d, ".rustfs.sys", "data", "*", "*", "*", "part.*"))]
        assert any(d in used for d in drives[:12]) and any(d in used for d in drives[12:]), "objects land on both sets"
        for k, h in objs.items():
            assert sha256(s3.get_object(Bucket="two-sets", Key=k)["Body"].read()) == h
        info = json.loads(srv.admin("--json", "info").stdout)
        assert info["sets"] == 2 and info["sets_with_quorum"] == 2 and len(info["drives"]) == 24
    finally:
        srv.cleanup()


def test_swapped_drives_are_reported(fresh_server):
    srv = fresh_server.start()
    srv.stop()
    a, b = srv.drives()[0], srv.drives()[1]
    tmp = a + ".swap"
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)
    srv.start()
    info = json.loads(srv.admin("--json", "info").stdout)
    offline = [d for d in info["drives"] if d["state"] == "offline"]
    assert len(offline) == 2 and all("swapped" in d["reason"] for d in offline), offline
    s3 = srv.client()
    s3.create_bucket(Bucket="still-works")
    s3.put_object(Bucket="still-works", Key="k", Body=os.urandom(300 * 1024))


def test_drive_vanishing_at_runtime(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="vanish")
    gone = srv.drives()[5]
    shutil.rmtree(gone)
    data = os.urandom(2 << 20)
    s3.put_object(Bucket="vanish", Key="after", Body=data)
    assert not os.path.exists(gone), "a vanished drive is not recreated by writes"
    assert sha256(s3.get_object(Bucket="vanish", Key="after")["Body"].read()) == sha256(data)
    info = json.loads(srv.admin("--json", "info").stdout)
    d = [d for d in info["drives"] if d["path"] == gone][0]
    assert d["state"] == "offline" and "format.json" in d["reason"]


def test_sigterm_lets_inflight_upload_finish(fresh_server):
    srv = fresh_server.start()
    s3 = srv.client()
    s3.create_bucket(Bucket="inflight")
    body = os.urandom(1 << 20)
    path = "/inflight/slow"
    h = signed_headers(srv.endpoint, "PUT", path, body, {"Host": f"127.0.0.1:{srv.port}"})
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body[: len(body) // 2])
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    sock.sendall(body[len(body) // 2 :])
    resp = sock.recv(65536)
    sock.close()
    assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
    assert srv.proc.wait(30) == 0
    srv.proc = None
    srv.start()
    assert sha256(srv.client().get_object(Bucket="inflight", Key="slow")["Body"].read()) == sha256(body)
