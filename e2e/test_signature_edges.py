"""Signature edges with raw HTTP requests signed by botocore's own signers (SigV4 header and
query, SigV2 header): AWS's error codes and statuses for an empty or malformed
Authorization, a missing date, a clock skew beyond 15 minutes, an over-long presigned URL,
and the unsigned-payload variants that must work."""

import datetime
import unittest.mock
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
import requests

from conftest import ACCESS, SECRET, Server
from rawhttp import error_code_of

CREDS = botocore.credentials.Credentials(ACCESS, SECRET)


@pytest.fixture(scope="module")
def srv():
    s = Server().start()
    c = s.client()
    c.create_bucket(Bucket="sig")
    c.put_object(Bucket="sig", Key="k", Body=b"signed")
    yield s
    s.cleanup()


def signed(srv, method="GET", path="/sig/k", headers=None, body=b"", payload=None, when=None, send=None):
    """A SigV4-signed request (at `when`, now by default) as botocore sends it; `send`, when
    given, is the body sent in place of the one signed."""
    req = botocore.awsrequest.AWSRequest(method=method, url=srv.endpoint + path, data=body, headers=headers or {})
    if payload:
        req.headers["X-Amz-Content-SHA256"] = payload
    signer = botocore.auth.S3SigV4Auth(CREDS, "s3", "us-east-1")
    if when is not None:
        # botocore reads the clock through botocore.auth.get_current_datetime.
        with unittest.mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    p = req.prepare()
    return requests.request(p.method, p.url, headers=dict(p.headers), data=p.body if send is None else send, timeout=30)


def raw(srv, headers, path="/sig/k"):
    return requests.get(srv.endpoint + path, headers=headers, timeout=30)


def test_authorization_edges(srv):
    ok = signed(srv)
    assert (ok.status_code, ok.content) == (200, b"signed")
    r = raw(srv, {"Authorization": ""})
    assert r.status_code in (400, 403), r.text
    r = raw(srv, {"Authorization": "AWS4-HMAC-SHA256 garbage", "x-amz-date": "20260101T000000Z",
                  "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    assert r.status_code == 400 and error_code_of(r.content) in ("AuthorizationHeaderMalformed", "InvalidArgument"), r.text
    r = raw(srv, {"Authorization": "Bearer xyz"})
    assert r.status_code in (400, 403), r.text
    # No date at all.
    good = signed(srv)
    h = {k: v for k, v in good.request.headers.items() if k.lower() not in ("x-amz-date", "date")}
    r = raw(srv, h)
    assert r.status_code == 403 and error_code_of(r.content) in ("AccessDenied", "SignatureDoesNotMatch"), r.text
    # 20 minutes off the server's clock.
    for delta in (datetime.timedelta(minutes=20), datetime.timedelta(minutes=-20)):
        r = signed(srv, when=datetime.datetime.now(datetime.timezone.utc) + delta)
        assert r.status_code == 403 and error_code_of(r.content) == "RequestTimeTooSkewed", r.text
    r = signed(srv, when=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10))
    assert r.status_code == 200, "within the 15 minutes S3 allows"


def test_unsigned_payload_variants_work(srv):
    r = signed(srv, "PUT", "/sig/unsigned", body=b"body", payload="UNSIGNED-PAYLOAD")
    assert r.status_code == 200, r.text
    r = signed(srv, "GET", "/sig/unsigned", payload="UNSIGNED-PAYLOAD")
    assert r.content == b"body"
    # A body whose declared SHA-256 is wrong is refused and stores nothing.
    # (botocore puts the body's own digest in x-amz-content-sha256 and signs it; other bytes
    # of the same length are sent.)
    r = signed(srv, "PUT", "/sig/badsum", body=b"body", send=b"evil")
    assert r.status_code in (400, 403) and error_code_of(r.content) in (
        "XAmzContentSHA256Mismatch", "BadDigest", "SignatureDoesNotMatch"), r.text
    assert signed(srv, "GET", "/sig/badsum").status_code == 404


def test_presigned_url_limits(srv):
    c = srv.client(signature_version="s3v4")
    url = c.generate_presigned_url("get_object", Params={"Bucket": "sig", "Key": "k"}, ExpiresIn=604800)
    assert requests.get(url, timeout=30).content == b"signed", "seven days is the longest S3 allows"
    too_long = c.generate_presigned_url("get_object", Params={"Bucket": "sig", "Key": "k"}, ExpiresIn=604801)
    r = requests.get(too_long, timeout=30)
    assert r.status_code in (400, 403) and error_code_of(r.content) in (
        "AuthorizationQueryParametersError", "AccessDenied"), r.text
    # A presigned URL whose expiry is not a number.
    parts = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qs(parts.query)
    q["X-Amz-Expires"] = ["soon"]
    bad = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q, doseq=True)))
    r = requests.get(bad, timeout=30)
    assert r.status_code in (400, 403), r.text
