"""Signatures, presigned URLs and hostile input: every bad request gets AWS's status and
error code and changes nothing."""

import hashlib
import os
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS, error_code, status
from rawhttp import error_code_of, request, send_raw, signed_headers


def http_get(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_unsigned_request_is_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s")
    st, body = http_get(f"{server.endpoint}/{bucket}/secret")
    assert st == 403 and error_code_of(body) == "AccessDenied"
    st, body = http_get(f"{server.endpoint}/")
    assert st == 403


def test_wrong_secret_and_unknown_key(server, bucket):
    bad = server.client(secret="wrong-secret-123")
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=bucket)
    assert error_code(e) == "SignatureDoesNotMatch" and status(e) == 403
    unknown = server.client(access="NOBODY", secret="whatever-secret")
    with pytest.raises(ClientError) as e:
        unknown.list_objects_v2(Bucket=bucket)
    assert error_code(e) == "InvalidAccessKeyId" and status(e) == 403


def test_presigned_urls(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="p", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=60)
    assert http_get(url) == (200, b"presigned body")
    # SigV2 presigning signs the Content-Type; SigV4 presigning signs only the host.
    v4 = server.client(signature_version="s3v4")
    for client, params in ((s3, {"ContentType": "text/plain"}), (v4, {})):
        put_url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pp", **params}, ExpiresIn=60)
        req = urllib.request.Request(put_url, data=b"via presigned put", method="PUT", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        assert s3.get_object(Bucket=bucket, Key="pp")["Body"].read() == b"via presigned put"
    v4_get = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=60)
    assert http_get(v4_get) == (200, b"presigned body")
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=1)
    time.sleep(2.1)
    st, body = http_get(short)
    assert st == 403 and error_code_of(body) == "AccessDenied"
    for u in (url, v4_get):
        i = u.index("Signature=") + len("Signature=")
        tampered = u[:i] + ("1" if u[i] != "1" else "2") + u[i + 1 :]
        assert tampered != u
        st, body = http_get(tampered)
        assert st == 403 and error_code_of(body) == "SignatureDoesNotMatch"
    v4_short = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=1)
    time.sleep(1.1)
    st, body = http_get(v4_short)
    assert st == 403 and error_code_of(body) == "AccessDenied"


def test_malformed_xml(server, bucket):
    for body in [b"<Delete><Object><Key>a</Key>", b"not xml at all", b"<Delete><Object></Object></Delete>"]:
        md5 = __import__("base64").b64encode(hashlib.md5(body).digest()).decode()
        st, _, out = request(server.endpoint, "POST", f"/{bucket}?delete", body, {"Content-MD5": md5})
        assert st == 400 and error_code_of(out) == "MalformedXML", out
    st, _, out = request(server.endpoint, "PUT", f"/{bucket}?versioning", b"<VersioningConfiguration><Status>Maybe",
                         {})
    assert st == 400 and error_code_of(out) == "MalformedXML"


def test_oversized_xml_body(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"keep me")
    body = b"<Delete>" + b"<Object><Key>x</Key></Object>" * 200000 + b"</Delete>"
    try:
        st, _, out = request(server.endpoint, "POST", f"/{bucket}?delete", body, {})
        assert st == 400 and error_code_of(out) == "MaxMessageLengthExceeded", out
    except (BrokenPipeError, ConnectionResetError):
        pass  # rejected before the client finished sending: equally refused
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"keep me"


def test_invalid_key_and_bucket_names(s3, bucket):
    if os.environ.get("RUSTFS_METADATA_ENGINE") == "legacy":
        # The legacy engine keeps MinIO's key rules (its keys are folders on the drives).
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="a/../b", Body=b"x")
        assert (status(e), error_code(e)) == (400, "XMinioInvalidObjectName")
    else:
        # The KV engine takes every key S3 takes.
        s3.put_object(Bucket=bucket, Key="a/../b", Body=b"x")
        assert s3.get_object(Bucket=bucket, Key="a/../b")["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert (status(e), error_code(e)) == (400, "KeyTooLongError")
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="Bad_Bucket")
    assert status(e) == 400


def test_body_shorter_than_declared_creates_nothing(server, s3, bucket):
    path = f"/{bucket}/short"
    body = b"x" * 1000
    h = signed_headers(server.endpoint, "PUT", path, body)
    h["Content-Length"] = "1000"
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    send_raw(server.endpoint, head.encode() + body[:400])
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="short")
    assert status(e) == 404


def test_bad_ranges_and_max_keys(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=20-30")
    assert status(e) == 416
    # S3 ignores an unparsable Range header; s3s rejects it with 400 InvalidArgument.
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="chars=1-2")
    assert status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert status(e) == 400


def test_health_endpoints_unsigned(server):
    assert http_get(server.endpoint + "/health/live")[0] == 200
    assert http_get(server.endpoint + "/health/ready")[0] == 200


def test_garbage_request_line_does_not_kill_server(server, s3):
    out = send_raw(server.endpoint, b"\x00\x01\x02 garbage \r\n\r\n")
    assert out == b"" or b"400" in out.split(b"\r\n")[0]
    s3.list_buckets()


def test_admin_api_needs_root(server, bucket):
    from conftest import ALT_ACCESS, ALT_SECRET
    st, _, _ = request(server.endpoint, "GET", "/rustfs/admin/v1/info", sign=False)
    assert st == 403
    st, _, _ = request(server.endpoint, "GET", "/rustfs/admin/v1/info", access=ALT_ACCESS, secret=ALT_SECRET)
    assert st == 403
    st, _, body = request(server.endpoint, "GET", "/rustfs/admin/v1/info")
    assert st == 200 and b"deployment_id" in body


def chunked_put(srv, key, decoded_len, payload, crc_of=None):
    import base64
    import zlib
    crc = base64.b64encode(zlib.crc32(crc_of if crc_of is not None else payload).to_bytes(4, "big")).decode()
    body = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n" + f"x-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    path = f"/chunky/{key}"
    hdr = {
        "Host": f"127.0.0.1:{srv.port}",
        "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(decoded_len),
        "X-Amz-Trailer": "x-amz-checksum-crc32",
        "Content-Length": str(len(body)),
    }
    h = signed_headers(srv.endpoint, "PUT", path, b"", hdr)
    raw = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    out = send_raw(srv.endpoint, raw.encode() + body)
    return out.split(b"\r\n")[0], error_code_of(out)


def test_aws_chunked_declared_lengths_and_trailer(server, s3):
    s3.create_bucket(Bucket="chunky")
    assert chunked_put(server, "exact", 10, b"0123456789") == (b"HTTP/1.1 200 OK", None)
    assert s3.get_object(Bucket="chunky", Key="exact")["Body"].read() == b"0123456789"
    assert chunked_put(server, "larger", 5, b"0123456789") == (b"HTTP/1.1 400 Bad Request", "IncompleteBody")
    assert chunked_put(server, "smaller", 20, b"0123456789") == (b"HTTP/1.1 400 Bad Request", "IncompleteBody")
    assert chunked_put(server, "badcrc", 10, b"0123456789", crc_of=b"x")[1] == "BadDigest"
    for k in ("larger", "smaller", "badcrc"):
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket="chunky", Key=k)
        assert status(e) == 404
