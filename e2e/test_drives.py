"""Drive layouts and drive trouble: 24 drives in two erasure sets, swapped drives, and a drive
that vanishes while the server runs. (SIGTERM with an upload in flight: test_lifecycle.)"""

import glob
import json
import os
import shutil

from conftest import Server, sha256


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
