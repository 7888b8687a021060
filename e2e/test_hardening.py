"""Hostile and stalled clients against the real binary: no admin call through a browser
form, bounded memory for unsigned forms and aws-chunked bodies, SigV2 clock skew and
presigned URL lifetimes, stalled readers and writers that give their threads back, the
connection cap, and secrets that never show in --help."""

import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import ACCESS, ADMIN_BIN, SECRET, Server, error_code, status
from rawhttp import error_code_of, signed_headers

MIB = 1 << 20


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def read_response(sock, limit=1 << 16):
    sock.settimeout(30)
    out = b""
    while b"\r\n\r\n" not in out or len(out) < 12:
        chunk = sock.recv(limit)
        if not chunk:
            break
        out += chunk
    return out


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"RUSTFS_IDLE_TIMEOUT_SECS": "2", "RUSTFS_POST_FORM_MAX_BYTES": str(4 * MIB),
                    "RUSTFS_BLOCKING_THREADS": "16", "RUSTFS_MAX_CONNECTIONS": "200",
                    "RUSTFS_GC_GRACE_SECS": "0"}).start()
    s.client().create_bucket(Bucket="hard")
    yield s
    s.cleanup()


def test_admin_refuses_a_replayed_browser_form_policy(srv):
    """A root-signed POST policy (generate_presigned_post) sent to the admin API runs nothing."""
    s3 = srv.client()
    post = s3.generate_presigned_post("hard", "anything", ExpiresIn=3600)
    for path in ["/rustfs/admin/v1/gc", "/rustfs/admin/v1/heal", "/rustfs/admin/v1/migration/start"]:
        r = requests.post(srv.endpoint + path, data=post["fields"], files={"file": ("x", b"payload")}, timeout=30)
        assert r.status_code == 403 and error_code_of(r.content) == "AccessDenied", (path, r.status_code, r.text)
    # SigV2 query (presigned, Expires far ahead) is refused on the admin API too.
    expires = str(int(time.time()) + 10 * 365 * 86400)
    sig = base64.b64encode(hmac.new(SECRET.encode(), f"POST\n\n\n{expires}\n/rustfs/admin/v1/gc".encode(),
                                    hashlib.sha1).digest()).decode()
    q = urllib.parse.urlencode({"AWSAccessKeyId": ACCESS, "Expires": expires, "Signature": sig})
    r = requests.post(f"{srv.endpoint}/rustfs/admin/v1/gc?{q}", timeout=30)
    assert r.status_code == 403 and error_code_of(r.content) == "AccessDenied", r.text
    # The admin API still works for the CLI (SigV4 header).
    assert json.loads(srv.admin("--json", "gc").stdout)["data_dirs_seen"] >= 0


def test_unsigned_form_post_memory_is_bounded(srv):
    pid = srv.proc.pid
    before = rss_kib(pid)
    # Declared too large: refused before a byte of the body is read.
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(b"POST /hard HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                 b"Content-Length: 1073741824\r\n\r\n")
    resp = read_response(sock)
    sock.close()
    assert resp.startswith(b"HTTP/1.1 400") and error_code_of(resp) == "EntityTooLarge", resp[:300]
    # Chunked, no length: cut off at the cap while it streams.
    sock = socket.create_connection(("127.0.0.1", srv.port))
    sock.sendall(b"POST /hard HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    head = b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--B\r\n" \
           b"Content-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n"
    chunk = os.urandom(MIB)
    sent = 0
    try:
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        while sent < 256 * MIB:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = read_response(sock)
    sock.close()
    assert resp.startswith(b"HTTP/1.1 4"), resp[:300]
    assert sent < 256 * MIB, "the server stopped reading long before 256 MiB"
    grown = rss_kib(pid) - before
    assert grown < 64 * 1024, f"RSS grew by {grown} KiB"


def test_aws_chunked_huge_chunk_is_refused_at_its_header(srv):
    pid = srv.proc.pid
    before = rss_kib(pid)
    path = "/hard/chunked"
    h = signed_headers(srv.endpoint, "PUT", path, b"", {
        "Host": f"127.0.0.1:{srv.port}",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": str(8 * MIB),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "content-encoding": "aws-chunked",
    })
    sock = socket.create_connection(("127.0.0.1", srv.port))
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
    head += "Transfer-Encoding: chunked\r\n\r\n"
    sock.sendall(head.encode())
    payload = b"ffffffff\r\n"
    sent = 0
    try:
        sock.sendall(b"%x\r\n%s\r\n" % (len(payload), payload))
        block = os.urandom(MIB)
        while sent < 128 * MIB:
            sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
            sent += len(block)
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp = read_response(sock)
    sock.close()
    assert resp.startswith(b"HTTP/1.1 400") and error_code_of(resp) == "InvalidRequest", resp[:400]
    assert rss_kib(pid) - before < 64 * 1024
    with pytest.raises(ClientError) as e:
        srv.client().head_object(Bucket="hard", Key="chunked")
    assert status(e) == 404, "nothing was stored"


def sigv2_get(srv, path, date):
    sts = f"GET\n\n\n{date}\n{path}"
    sig = base64.b64encode(hmac.new(SECRET.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    return requests.get(srv.endpoint + path, headers={"Date": date, "Authorization": f"AWS {ACCESS}:{sig}"}, timeout=30)


def test_sigv2_outside_the_skew_and_long_presigned_urls_are_refused(srv):
    s3 = srv.client()
    s3.put_object(Bucket="hard", Key="v2", Body=b"signed the old way")
    now = email.utils.formatdate(usegmt=True)
    r = sigv2_get(srv, "/hard/v2", now)
    assert r.status_code == 200 and r.content == b"signed the old way", r.text
    old = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20),
                                      usegmt=True)
    r = sigv2_get(srv, "/hard/v2", old)
    assert (r.status_code, error_code_of(r.content)) == (403, "RequestTimeTooSkewed"), r.text
    v4 = srv.client(signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": "hard", "Key": "v2"}, ExpiresIn=8 * 86400)
    assert "X-Amz-Expires=691200" in url
    r = requests.get(url, timeout=30)
    assert (r.status_code, error_code_of(r.content)) == (400, "AuthorizationQueryParametersError"), r.text
    url = v4.generate_presigned_url("get_object", Params={"Bucket": "hard", "Key": "v2"}, ExpiresIn=7 * 86400)
    assert requests.get(url, timeout=30).status_code == 200


def test_stalled_readers_and_writers_give_their_threads_back(srv):
    """40 GETs of a 16 MiB object that stop reading and 40 PUTs whose body stops (with 16
    blocking threads): after the idle timeout every thread is free again and the server
    serves PUT, GET and LIST at once."""
    s3 = srv.client()
    s3.put_object(Bucket="hard", Key="big", Body=os.urandom(16 * MIB))
    stalled = []
    for _ in range(40):
        h = signed_headers(srv.endpoint, "GET", "/hard/big", b"", {"Host": f"127.0.0.1:{srv.port}"})
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(("GET /hard/big HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n").encode())
        stalled.append(sock)
    body = os.urandom(4 * MIB)
    puts = []
    for i in range(40):
        path = f"/hard/stuck-{i}"
        h = signed_headers(srv.endpoint, "PUT", path, body, {"Host": f"127.0.0.1:{srv.port}"})
        sock = socket.create_connection(("127.0.0.1", srv.port))
        head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        sock.sendall((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:300 * 1024])
        puts.append(sock)
    time.sleep(5)  # beyond the 2 s idle timeout
    c = srv.client(read_timeout=20, connect_timeout=5)
    t0 = time.time()
    c.put_object(Bucket="hard", Key="after-stall", Body=os.urandom(MIB))
    assert len(c.get_object(Bucket="hard", Key="after-stall")["Body"].read()) == MIB
    assert c.list_objects_v2(Bucket="hard", Prefix="after")["KeyCount"] == 1
    assert time.time() - t0 < 15
    # The stalled PUTs were answered RequestTimeout (or closed), and stored nothing.
    answered = 0
    for sock in puts:
        resp = read_response(sock)
        if resp:
            assert error_code_of(resp) == "RequestTimeout", resp[:300]
            answered += 1
        sock.close()
    assert answered > 0
    for sock in stalled:
        sock.close()
    listed = c.list_objects_v2(Bucket="hard", Prefix="stuck-").get("KeyCount", 0)
    assert listed == 0


def test_connection_cap_answers_slowdown():
    srv = Server(env={"RUSTFS_MAX_CONNECTIONS": "4"}).start()
    try:
        # Four connections, each seen served (a keep-alive request answered 200), hold
        # every slot; one refused while an earlier connection (the readiness probe) is
        # still being closed is retried.
        held = []
        deadline = time.time() + 30
        while len(held) < 4:
            assert time.time() < deadline, "the server never served four connections"
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n")
            resp = read_response(s)
            if resp.startswith(b"HTTP/1.1 200"):
                held.append(s)
            else:
                assert resp.startswith(b"HTTP/1.1 503"), resp[:200]
                s.close()
                time.sleep(0.1)
        extra = socket.create_connection(("127.0.0.1", srv.port))
        resp = read_response(extra)
        extra.close()
        assert resp.startswith(b"HTTP/1.1 503") and error_code_of(resp) == "SlowDown", resp[:200]
        for s in held:
            s.close()
        time.sleep(0.3)
        assert requests.get(srv.endpoint + "/health/live", timeout=10).status_code == 200
    finally:
        srv.cleanup()


def test_secrets_never_in_help():
    env = dict(os.environ, RUSTFS_SECRET_KEY="very-secret-value-123", RUSTFS_METRICS_TOKEN="token-secret-456")
    for args in ([ADMIN_BIN, "--help"], [ADMIN_BIN, "gc", "--help"]):
        out = subprocess.run(args, env=env, capture_output=True, timeout=30).stdout.decode()
        assert "very-secret-value-123" not in out and "RUSTFS_SECRET_KEY" in out, out
    server_bin = ADMIN_BIN.replace("rustfs-admin", "rustfs")
    out = subprocess.run([server_bin, "server", "--help"], env=env, capture_output=True, timeout=30).stdout.decode()
    assert "token-secret-456" not in out and "RUSTFS_METRICS_TOKEN" in out


def test_default_credentials_refuse_a_public_address(tmp_path):
    server_bin = ADMIN_BIN.replace("rustfs-admin", "rustfs")
    env = {k: v for k, v in os.environ.items() if k not in ("RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY")}
    p = subprocess.run([server_bin, "server", "--address", "0.0.0.0:0", "--data", str(tmp_path / "d")],
                       env=env, capture_output=True, timeout=30)
    assert p.returncode != 0 and b"default credentials" in p.stderr, p.stderr


def test_user_metadata_over_2kb(srv):
    s3 = srv.client()
    s3.put_object(Bucket="hard", Key="meta-ok", Body=b"x", Metadata={"a": "x" * 2047})
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="hard", Key="meta-big", Body=b"x", Metadata={"a": "x" * 2047, "b": "y"})
    assert (status(e), error_code(e)) == (400, "MetadataTooLarge")


def test_sigv2_clients_work_and_wrong_signatures_are_refused(srv):
    """SigV2 (botocore's HmacV1 and its default presigned URLs) across object operations
    whose canonical resource carries sub-resources; a wrong secret is refused before s3s.
    (Bucket-level requests are left out: botocore signs `/bucket/` for the path `/bucket`,
    which s3s refuses.)"""
    v4 = srv.client()
    v4.create_bucket(Bucket="v2-bucket")
    v4.put_bucket_versioning(Bucket="v2-bucket", VersioningConfiguration={"Status": "Enabled"})
    v2 = srv.client(signature_version="s3")
    r = v2.put_object(Bucket="v2-bucket", Key="dir/ключ ✓", Body=b"payload", ContentType="text/plain",
                      Metadata={"who": "v2"})
    vid = r["VersionId"]
    got = v2.get_object(Bucket="v2-bucket", Key="dir/ключ ✓", VersionId=vid)
    assert got["Body"].read() == b"payload" and got["Metadata"] == {"who": "v2"}
    up = v2.create_multipart_upload(Bucket="v2-bucket", Key="mp")["UploadId"]
    e1 = v2.upload_part(Bucket="v2-bucket", Key="mp", UploadId=up, PartNumber=1, Body=b"x" * 100)["ETag"]
    v2.complete_multipart_upload(Bucket="v2-bucket", Key="mp", UploadId=up,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert v2.get_object(Bucket="v2-bucket", Key="mp", PartNumber=1)["Body"].read() == b"x" * 100
    url = srv.client().generate_presigned_url(
        "get_object", Params={"Bucket": "v2-bucket", "Key": "mp", "ResponseContentType": "application/x-test"},
        ExpiresIn=300)
    assert "Signature=" in url and "X-Amz-Signature" not in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-test", r.text
    v2.delete_object(Bucket="v2-bucket", Key="dir/ключ ✓", VersionId=vid)
    bad = srv.client(signature_version="s3", secret=SECRET + "x")
    with pytest.raises(ClientError) as e:
        bad.get_object(Bucket="v2-bucket", Key="mp")
    assert (status(e), error_code(e)) == (403, "SignatureDoesNotMatch")
    r = requests.get(url.replace("Signature=", "Signature=A"), timeout=30)
    assert (r.status_code, error_code_of(r.content)) == (403, "SignatureDoesNotMatch")
