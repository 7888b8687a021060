"""The server's life: /health/ready turns false (with the reason) when an erasure set loses
its quorum; SIGTERM stops accepting connections at once, lets in-flight requests finish,
and exits after --shutdown-timeout when one does not."""

import os
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request

from conftest import Server
from rawhttp import signed_headers


def ready(srv):
    try:
        with urllib.request.urlopen(srv.endpoint + "/health/ready", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_ready_turns_false_when_quorum_is_lost(fresh_server):
    srv = fresh_server.start()
    assert ready(srv) == (200, "ready\n")
    for d in srv.drives()[:4]:
        shutil.rmtree(d)
    assert ready(srv) == (200, "ready\n"), "8 of 12 drives still make the quorum"
    shutil.rmtree(srv.drives()[4])
    code, text = ready(srv)
    assert code == 503, text
    assert text.startswith("not ready: erasure set 0 has 7 of 12 drives online, 8 needed; offline: "), text
    for d in srv.drives()[:5]:
        assert f"{d} (drive {d} lost its .rustfs.sys/format.json while running)" in text, text
    with urllib.request.urlopen(srv.endpoint + "/health/live", timeout=10) as r:
        assert r.status == 200


def half_sent_put(srv, path, body):
    h = signed_headers(srv.endpoint, "PUT", path, body, {"Host": f"127.0.0.1:{srv.port}"})
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    sock.sendall((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body[: len(body) // 2])
    return sock


def test_sigterm_refuses_new_connections_and_finishes_inflight(fresh_server):
    srv = fresh_server.start()
    srv.client().create_bucket(Bucket="term")
    body = os.urandom(1 << 20)
    sock = half_sent_put(srv, "/term/slow", body)
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()
        raise AssertionError("a new connection was accepted after SIGTERM")
    except ConnectionRefusedError:
        pass
    sock.sendall(body[len(body) // 2 :])
    resp = sock.recv(65536)
    sock.close()
    assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
    assert srv.proc.wait(30) == 0
    srv.proc = None


def test_shutdown_timeout_bounds_a_request_that_never_finishes():
    srv = Server(extra_args=["--shutdown-timeout", "2"], env={"RUSTFS_IDLE_TIMEOUT_SECS": "120"}).start()
    try:
        srv.client().create_bucket(Bucket="term")
        sock = half_sent_put(srv, "/term/stuck", os.urandom(1 << 20))
        time.sleep(0.3)
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        rc = srv.proc.wait(30)
        waited = time.time() - t0
        srv.proc = None
        sock.close()
        assert rc == 0
        assert 1.5 <= waited < 15, f"exited after {waited:.1f}s (shutdown timeout 2 s, idle timeout 120 s)"
        assert "did not finish in time" in srv.logs()
    finally:
        srv.cleanup()
