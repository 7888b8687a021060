"""Harness for end-to-end tests: starts the real `rustfs` binary on a free 127.0.0.1 port
with temporary drives, and gives tests boto3 clients, an aws-cli runner and the admin CLI.
Every server is stopped and its folder removed when the test (or module) ends."""

import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILE = os.environ.get("RUSTFS_E2E_PROFILE", "release")
BIN = os.environ.get("RUSTFS_BIN", os.path.join(ROOT, "target", PROFILE, "rustfs"))
ADMIN_BIN = os.environ.get("RUSTFS_ADMIN_BIN", os.path.join(ROOT, "target", PROFILE, "rustfs-admin"))

ACCESS = "e2e-root"
SECRET = "e2e-root-secret"
ALT_ACCESS = "AKIAEXAMPLEALT"
ALT_SECRET = "example-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Server:
    """One rustfs process over a data folder that outlives restarts of the process."""

    def __init__(self, data=None, extra_args=(), config_text=None, env=None, host="127.0.0.1", port=None):
        self.tmp = tempfile.mkdtemp(prefix="rustfs-e2e-")
        self.data = data or os.path.join(self.tmp, "data")
        self.host = host
        self.port = port or free_port()
        self.endpoint = f"http://{host}:{self.port}"
        self.extra_args = list(extra_args)
        self.config = None
        if config_text is not None:
            self.config = os.path.join(self.tmp, "config.yaml")
            with open(self.config, "w") as f:
                f.write(config_text)
        # Replaced data is freed after 1 s (instead of 30) so tests see it go.
        self.env = dict(os.environ, RUSTFS_ACCESS_KEY=ACCESS, RUSTFS_SECRET_KEY=SECRET, RUST_LOG="info,s3s=off",
                        RUSTFS_FREE_DELAY_SECS="1")
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(self.tmp, "server.log")

    def drives(self):
        return [os.path.join(self.data, f"drive{i}") for i in range(1, 13)]

    def start(self, wait=True):
        args = [BIN, "server", "--address", f"{self.host}:{self.port}", "--data", self.data, *self.extra_args]
        if self.config:
            args += ["--config", self.config]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready:\n" + self.logs())

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-5000:]

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def client(self, access=ACCESS, secret=SECRET, **cfg):
        cfg.setdefault("retries", {"max_attempts": 1, "mode": "standard"})
        cfg.setdefault("s3", {"addressing_style": "path"})
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(**cfg),
        )

    def aws(self, *args, check=True, access=ACCESS, secret=SECRET, input=None):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        p = subprocess.run(["aws", "--endpoint-url", self.endpoint, *args], env=env, capture_output=True, input=input, timeout=600)
        if check and p.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}): {p.stderr.decode()}")
        return p

    def admin(self, *args, check=True):
        p = subprocess.run([ADMIN_BIN, "--endpoint", self.endpoint, "--access-key", ACCESS, "--secret-key", SECRET, *args],
                           capture_output=True, timeout=600)
        if check and p.returncode != 0:
            raise AssertionError(f"rustfs-admin {' '.join(args)} failed: {p.stdout.decode()}{p.stderr.decode()}")
        return p



class Nodes:
    """What every multi-node harness shares: `self.nodes` are `Server`s of one metadata
    group."""

    nodes = ()

    def status(self, node):
        return json.loads(node.admin("--json", "metadata", "status").stdout)

    def leader(self, among=None, timeout=30):
        """The node that leads the metadata group now (a stopped node is skipped)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for s in among or self.nodes:
                if s.proc is None:
                    continue
                try:
                    st = self.status(s)
                except AssertionError:
                    continue
                if st["leader_id"] and st["leader_id"] == st["node_id"]:
                    return s
            time.sleep(0.1)
        raise AssertionError("no leader elected")

ALT_USER_YAML = f"""users:
  - access_key: {ALT_ACCESS}
    secret_key: {ALT_SECRET}
    display_name: alt
"""


@pytest.fixture(scope="module")
def server():
    s = Server(config_text=ALT_USER_YAML).start()
    yield s
    s.cleanup()


@pytest.fixture
def fresh_server():
    s = Server(config_text=ALT_USER_YAML)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def s3(server):
    return server.client()


_counter = [0]


@pytest.fixture
def bucket(s3):
    _counter[0] += 1
    name = f"bkt-{os.getpid()}-{_counter[0]}"
    s3.create_bucket(Bucket=name)
    return name


def shard_files(server, bucket=None):
    """Every shard file on the server's drives, in both layouts: the keyed one of the legacy
    engine (`<drive>/<bucket>/<key>/<data dir>/part.*`, only `bucket`'s) and the KV one
    (`<drive>/.rustfs.sys/data/<bucket id>/<xx>/<data dir>/part.*`, every bucket's)."""
    files = []
    for d in server.drives():
        if bucket:
            files += glob.glob(os.path.join(d, bucket, "**", "part.*"), recursive=True)
        files += glob.glob(os.path.join(d, ".rustfs.sys", "data", "*", "*", "*", "part.*"))
    return sorted(files)


def data_dirs(server):
    """Names of the data dirs holding shards on the first drive (both layouts, every bucket)."""
    d = server.drives()[0]
    files = glob.glob(os.path.join(d, "*", "**", "part.*"), recursive=True)
    files += glob.glob(os.path.join(d, ".rustfs.sys", "data", "*", "*", "*", "part.*"))
    return {os.path.basename(os.path.dirname(f)) for f in files}


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def status(exc_info):
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]
