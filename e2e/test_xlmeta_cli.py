"""`rustfs-admin xlmeta inspect`: JSON for a real MinIO xl.meta; a clear error naming the
offset (and no panic) for a truncated or corrupt one."""

import json
import os
import subprocess

import pytest

from conftest import ADMIN_BIN, ROOT

FIXTURES = os.path.join(ROOT, "crates", "ecstore", "tests", "fixtures")


@pytest.fixture
def fixture_file():
    p = os.path.join(FIXTURES, "minio", "xl-many-parts.meta")
    assert os.path.exists(p), f"the vendored fixture {p} is missing"
    return p


def test_inspect_real_file(fixture_file):
    p = subprocess.run([ADMIN_BIN, "xlmeta", "inspect", fixture_file], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["version"] == "1.3" and len(d["versions"]) == 7
    assert len(d["versions"][0]["object"]["part_numbers"]) == 9016


def test_inspect_corrupt_file(fixture_file, tmp_path):
    data = open(fixture_file, "rb").read()
    bad = tmp_path / "xl.meta"
    bad.write_bytes(data[:1000])
    p = subprocess.run([ADMIN_BIN, "xlmeta", "inspect", str(bad)], capture_output=True, timeout=60)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "byte offset" in err and "panicked" not in err, err
