"""DualTrack under faults and through the CLI, on a legacy deployment: the server killed with
-9 while clients write and shadow copies are queued, then the migrator resumed from its
checkpoint (not from zero); `migration stop`; `migration cleanup` refused before
`complete`; `validate --repair` through the CLI fixing a key one track lost."""

import glob
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Server, sha256

CONFIG = """migration:
  migration:
    enabled: false
  consistency_check:
    enabled: false
consistency:
  level: eventual
  window_seconds: 30
"""


def status(srv):
    return json.loads(srv.admin("--json", "migration", "status").stdout)


def legacy_server(**env):
    return Server(extra_args=["--metadata-engine", "legacy", "--dual-track-ratio", "1"], config_text=CONFIG,
                  env=env)


def load(srv, n):
    s3 = srv.client()
    s3.create_bucket(Bucket="mig")
    bodies = {f"k/{i:05d}": os.urandom(64 + i % 512) for i in range(n)}
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda kv: srv.client().put_object(Bucket="mig", Key=kv[0], Body=kv[1]), bodies.items()))
    return bodies


class Writers:
    """Clients overwriting loaded keys and adding new ones; what each was acknowledged, and
    what was in flight when the server died."""

    def __init__(self, srv, n=3):
        self.srv = srv
        self.stop = threading.Event()
        self.acked = {}  # key -> sha256 of the last acknowledged body
        self.sent = {}  # key -> set of sha256 sent
        self.in_flight = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(w,), daemon=True) for w in range(n)]
        for t in self.threads:
            t.start()

    def run(self, w):
        c = self.srv.client()
        i = 0
        while not self.stop.is_set():
            key = f"k/{(w * 7919 + i * 13) % 600:05d}" if i % 2 else f"new/{w}/{i}"
            body = os.urandom(100 + i % 300)
            with self.lock:
                self.sent.setdefault(key, set()).add(sha256(body))
                self.in_flight[w] = key
            try:
                c.put_object(Bucket="mig", Key=key, Body=body)
            except Exception:
                return
            with self.lock:
                self.acked[key] = sha256(body)
                self.in_flight.pop(w, None)
            i += 1

    def halt(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def test_kill9_with_writes_and_shadow_copies_in_flight_then_resume():
    srv = legacy_server().start()
    try:
        bodies = load(srv, 1500)
        assert status(srv)["state"]["phase"] == "fullout"
        writers = Writers(srv)
        time.sleep(0.5)
        srv.admin("migration", "start", "--objects-per-day", str(400 * 86400))
        deadline = time.time() + 60
        while (status(srv)["migrator"]["checkpoint"] or {}).get("scanned", 0) < 400:
            assert time.time() < deadline, "the migrator made no progress"
            time.sleep(0.05)
        st = status(srv)
        in_flight = dict(writers.in_flight)
        srv.kill9()
        writers.halt()
        assert in_flight, "client writes were in flight"
        assert st["queue"]["synced"] + st["queue"]["inline"] > 0 or st["queue"]["depth"] > 0, st["queue"]
        scanned_before = st["migrator"]["checkpoint"]["scanned"]

        srv.start()
        st = status(srv)
        cp = st["migrator"]["checkpoint"]
        assert cp["pass"] == 1 and not cp["done"] and cp["scanned"] >= scanned_before, cp
        srv.admin("migration", "start", "--wait", "--objects-per-day", "0")
        cp = status(srv)["migrator"]["checkpoint"]
        assert cp["done"] and cp["pass"] == 1 and cp["errors"] == 0, cp
        # Resumed: the keys scanned before the kill were not scanned again (a pass from zero
        # would count them twice: scanned_before + every key).
        keys = sum(p.get("KeyCount", 0) for p in srv.client().get_paginator("list_objects_v2").paginate(Bucket="mig"))
        assert scanned_before >= 400 and cp["scanned"] < keys + scanned_before // 2, (cp, keys)
        v = json.loads(srv.admin("--json", "validate").stdout)
        assert (v["diverged"], v["kv_only"], v["fs_only"], v["errors"]) == (0, 0, 0, 0) and v["clean"], v
        s3 = srv.client()
        for key, digest in writers.acked.items():
            got = sha256(s3.get_object(Bucket="mig", Key=key)["Body"].read())
            in_flight_key = key in in_flight.values()
            assert got == digest or (in_flight_key and got in writers.sent[key]), key
        for key, body in bodies.items():
            if key not in writers.sent:
                assert s3.get_object(Bucket="mig", Key=key)["Body"].read() == body, key
    finally:
        srv.cleanup()


def test_cli_stop_cleanup_refusal_and_repair():
    srv = legacy_server().start()
    try:
        load(srv, 800)
        # cleanup is refused before complete, and removes nothing.
        p = srv.admin("migration", "cleanup", check=False)
        assert p.returncode != 0 and b"runs only in phase complete" in p.stdout + p.stderr, p
        # migration stop: the pass stops with its checkpoint kept, and resumes.
        srv.admin("migration", "start", "--objects-per-day", str(200 * 86400))
        deadline = time.time() + 60
        while (status(srv)["migrator"]["checkpoint"] or {}).get("scanned", 0) < 100:
            assert time.time() < deadline
            time.sleep(0.05)
        srv.admin("migration", "stop")
        deadline = time.time() + 30
        while status(srv)["migrator"]["running"]:
            assert time.time() < deadline, "the migrator did not stop"
            time.sleep(0.05)
        cp = status(srv)["migrator"]["checkpoint"]
        time.sleep(0.5)
        assert status(srv)["migrator"]["checkpoint"]["scanned"] == cp["scanned"], "stopped means stopped"
        assert not cp["done"] and 100 <= cp["scanned"] < 800, cp
        srv.admin("migration", "start", "--wait", "--objects-per-day", "0")
        cp = status(srv)["migrator"]["checkpoint"]
        assert cp["done"] and cp["pass"] == 1 and cp["scanned"] == 800, cp
        # One key loses its xl.meta behind the server's back: validate finds it, and the
        # CLI's repair puts it back.
        victim = glob.glob(os.path.join(srv.data, "drive*", "mig", "k", "00042", "xl.meta"))
        assert len(victim) == 12
        for f in victim:
            os.remove(f)
        v = json.loads(srv.admin("--json", "validate").stdout)
        assert (v["kv_only"], v["in_sync"], v["checked"]) == (1, 799, 800), v
        v = json.loads(srv.admin("--json", "validate", "--repair", "sync-to-fs").stdout)
        assert v["repaired"] == 1, v
        assert len(glob.glob(os.path.join(srv.data, "drive*", "mig", "k", "00042", "xl.meta"))) == 12
        v = json.loads(srv.admin("--json", "validate").stdout)
        assert (v["in_sync"], v["checked"], v["clean"]) == (800, 800, True), v
    finally:
        srv.cleanup()
