"""Browser uploads (POST object) through the real binary: forms signed by boto3's
generate_presigned_post (SigV4) and by hand (SigV2), streamed to the store (a 20 MiB file
with the form cap raised, RSS bounded), the policy's conditions each accepting and refusing
(`eq`, `starts-with`, `content-length-range`, extra fields, expiration, the signature), the
answers (`success_action_status` 200/201/204, `success_action_redirect`), `${filename}`, and
an unsigned form allowed only by a bucket policy."""

import base64
import hashlib
import hmac
import json
import os
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import ACCESS, SECRET, Server

MIB = 1 << 20


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_args=["--post-form-max-bytes", str(64 * MIB)]).start()
    s.client().create_bucket(Bucket="forms")
    yield s
    s.cleanup()


def post(srv, fields, body, filename="upload.bin", bucket="forms"):
    return requests.post(f"{srv.endpoint}/{bucket}", data=fields, files={"file": (filename, body)}, timeout=120)


def code(r):
    return ET.fromstring(r.content).findtext("Code") if r.content else None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_signed_forms_store_objects_and_answer_as_asked(srv):
    c = srv.client()
    p = c.generate_presigned_post("forms", "uploads/${filename}", ExpiresIn=600,
                                  Conditions=[["starts-with", "$key", "uploads/"], ["content-length-range", 1, 32 * MIB]])
    body = os.urandom(3 * MIB + 5)
    r = post(srv, p["fields"], body, filename="photo.jpg")
    assert r.status_code == 204, r.text
    assert r.headers["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    assert c.get_object(Bucket="forms", Key="uploads/photo.jpg")["Body"].read() == body
    # 201 with a PostResponse document; 200 with nothing; a redirect with the object's address.
    for status in ("201", "200"):
        p = c.generate_presigned_post("forms", f"s{status}", Fields={"success_action_status": status},
                                      Conditions=[{"success_action_status": status}], ExpiresIn=600)
        r = post(srv, p["fields"], b"small")
        assert r.status_code == int(status), r.text
        if status == "201":
            doc = ET.fromstring(r.content)
            assert doc.tag == "PostResponse" and doc.findtext("Key") == "s201" and doc.findtext("Bucket") == "forms"
        else:
            assert r.content == b""
    p = c.generate_presigned_post("forms", "redirected", ExpiresIn=600,
                                  Fields={"success_action_redirect": "https://example.com/done"},
                                  Conditions=[["starts-with", "$success_action_redirect", "https://example.com/"]])
    r = requests.post(f"{srv.endpoint}/forms", data=p["fields"], files={"file": ("f", b"r")}, allow_redirects=False,
                      timeout=30)
    assert r.status_code == 303, r.text
    assert r.headers["Location"].startswith("https://example.com/done?bucket=forms&key=redirected&etag=")
    # Content type and user metadata from the form.
    p = c.generate_presigned_post("forms", "typed", ExpiresIn=600,
                                  Fields={"Content-Type": "image/png", "x-amz-meta-origin": "browser"},
                                  Conditions=[["starts-with", "$Content-Type", "image/"], {"x-amz-meta-origin": "browser"}])
    assert post(srv, p["fields"], b"png").status_code == 204
    h = c.head_object(Bucket="forms", Key="typed")
    assert h["ContentType"] == "image/png" and h["Metadata"] == {"origin": "browser"}


def test_each_condition_refuses_and_nothing_is_stored(srv):
    c = srv.client()
    p = c.generate_presigned_post("forms", "user/a", ExpiresIn=600,
                                  Conditions=[["starts-with", "$key", "user/"], ["content-length-range", 10, 100]])
    fields = dict(p["fields"])
    r = post(srv, {**fields, "key": "other/a"}, b"x" * 50)
    assert r.status_code == 403 and code(r) == "AccessDenied" and b"starts-with" in r.content, r.text
    r = post(srv, fields, b"x" * 101)
    assert r.status_code == 400 and code(r) == "EntityTooLarge", r.text
    r = post(srv, fields, b"x" * 9)
    assert r.status_code == 400 and code(r) == "EntityTooSmall", r.text
    r = post(srv, {**fields, "x-amz-meta-extra": "v"}, b"x" * 50)
    assert r.status_code == 403 and b"Extra input fields" in r.content, r.text
    r = post(srv, {**fields, "x-ignore-this": "v"}, b"x" * 50)
    assert r.status_code == 204, r.text
    tampered = base64.b64encode(base64.b64decode(fields["policy"]).replace(b"user/", b"any/")).decode()
    r = post(srv, {**fields, "policy": tampered, "key": "any/a"}, b"x" * 50)
    assert r.status_code == 403 and code(r) == "SignatureDoesNotMatch", r.text
    r = post(srv, {k: v for k, v in fields.items() if k != "key"}, b"x" * 50)
    assert r.status_code == 400 and code(r) == "InvalidArgument", r.text
    short = c.generate_presigned_post("forms", "late", ExpiresIn=1)
    time.sleep(2.1)
    r = post(srv, short["fields"], b"late")
    assert r.status_code == 403 and b"expired" in r.content, r.text
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="forms", Prefix="user/").get("Contents", [])]
    assert keys == ["user/a"], "only the accepted form stored an object"
    assert "Contents" not in c.list_objects_v2(Bucket="forms", Prefix="other/")
    assert "Contents" not in c.list_objects_v2(Bucket="forms", Prefix="any/")


def test_sigv2_form_and_unsigned_form_under_a_bucket_policy(srv):
    c = srv.client()
    doc = {"expiration": "2099-01-01T00:00:00Z", "conditions": [{"bucket": "forms"}, ["starts-with", "$key", "v2/"]]}
    policy = base64.b64encode(json.dumps(doc).encode()).decode()
    sig = base64.b64encode(hmac.new(SECRET.encode(), policy.encode(), hashlib.sha1).digest()).decode()
    r = post(srv, {"key": "v2/k", "AWSAccessKeyId": ACCESS, "policy": policy, "signature": sig}, b"v2 form")
    assert r.status_code == 204, r.text
    assert c.get_object(Bucket="forms", Key="v2/k")["Body"].read() == b"v2 form"
    r = post(srv, {"key": "v2/k", "AWSAccessKeyId": ACCESS, "policy": policy, "signature": "AAAA" + sig[4:]}, b"x")
    assert r.status_code == 403 and code(r) == "SignatureDoesNotMatch"
    # Unsigned: only where a bucket policy lets anyone write.
    c.create_bucket(Bucket="dropbox")
    r = post(srv, {"key": "in/k"}, b"anonymous", bucket="dropbox")
    assert r.status_code == 403 and code(r) == "AccessDenied", r.text
    c.put_bucket_policy(Bucket="dropbox", Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::dropbox/in/*"}]}))
    assert post(srv, {"key": "in/k"}, b"anonymous", bucket="dropbox").status_code == 204
    assert post(srv, {"key": "out/k"}, b"anonymous", bucket="dropbox").status_code == 403
    assert c.get_object(Bucket="dropbox", Key="in/k")["Body"].read() == b"anonymous"
    r = post(srv, {"key": "k"}, b"x", bucket="no-such-bucket-zz")
    assert r.status_code == 404 and code(r) == "NoSuchBucket"


def test_a_large_form_streams_with_bounded_memory(srv):
    c = srv.client()
    p = c.generate_presigned_post("forms", "big", ExpiresIn=600)
    body = os.urandom(20 * MIB)
    before = rss_kib(srv.proc.pid)
    r = post(srv, p["fields"], body)
    assert r.status_code == 204, r.text
    grown = rss_kib(srv.proc.pid) - before
    assert grown < 48 * 1024, f"RSS grew by {grown} KiB for a 20 MiB form"
    assert hashlib.md5(c.get_object(Bucket="forms", Key="big")["Body"].read()).digest() == hashlib.md5(body).digest()
