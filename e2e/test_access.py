"""The access model through the real binary with boto3, aws-cli, curl-style anonymous
requests (requests) and `rustfs-admin`: bucket policies (public read, a prefix for another
user, explicit deny beating an allow, IP and time conditions, AWS's MalformedPolicy
reasons, policy status), missing keys answered 403 or 404 as AWS does, ACLs (canned and by
grant, to another user and to everyone) with object ownership (BucketOwnerEnforced refusing
them), the public access block overriding public policies and ACLs, and users, groups and
policies managed at runtime (keys working at once after `user add`, failing once disabled or
removed, group policies)."""

import json

import botocore.exceptions
import pytest
import requests

from conftest import Server


def code(fn, *a, **kw):
    """The S3 error code `fn` raises (`None` if it succeeds)."""
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def anon(s, method, path, **kw):
    return requests.request(method, s.endpoint + path, timeout=30, **kw)


def add_user(s, name, secret=None):
    args = ["--json", "user", "add", name] + (["--secret", secret] if secret else [])
    c = json.loads(s.admin(*args).stdout)
    assert c["access_key"] == name and len(c["secret_key"]) >= 8, c
    return s.client(access=c["access_key"], secret=c["secret_key"]), c["secret_key"]


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def srv():
    s = Server().start()
    yield s
    s.cleanup()


def test_public_read_policy_serves_anonymous_callers_and_missing_keys_follow_list(srv):
    root = srv.client()
    root.create_bucket(Bucket="site")
    root.put_object(Bucket="site", Key="index.html", Body=b"<h1>hi</h1>")
    assert anon(srv, "GET", "/site/index.html").status_code == 403
    assert code(root.get_bucket_policy, Bucket="site") == "NoSuchBucketPolicy"
    srv.aws("s3api", "put-bucket-policy", "--bucket", "site", "--policy", policy(
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::site/*"}))
    r = anon(srv, "GET", "/site/index.html")
    assert (r.status_code, r.content) == (200, b"<h1>hi</h1>")
    assert anon(srv, "HEAD", "/site/index.html").status_code == 200
    assert root.get_bucket_policy_status(Bucket="site")["PolicyStatus"]["IsPublic"] is True
    assert json.loads(root.get_bucket_policy(Bucket="site")["Policy"])["Statement"][0]["Sid"] == "PublicRead"
    # Without s3:ListBucket a missing key is a 403 (nothing is disclosed); with it, a 404.
    r = anon(srv, "GET", "/site/missing.html")
    assert r.status_code == 403 and b"AccessDenied" in r.content
    assert anon(srv, "GET", "/site").status_code == 403, "listing is not granted"
    assert anon(srv, "PUT", "/site/x", data=b"x").status_code == 403, "nor writing"
    root.put_bucket_policy(Bucket="site", Policy=policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::site"}))
    r = anon(srv, "GET", "/site/missing.html")
    assert r.status_code == 404 and b"NoSuchKey" in r.content
    assert b"index.html" in anon(srv, "GET", "/site?list-type=2").content
    # A missing bucket is a 404 to anyone; the service listing is never anonymous.
    assert anon(srv, "GET", "/no-such-bucket-here/k").status_code == 404
    assert anon(srv, "GET", "/").status_code == 403
    root.delete_bucket_policy(Bucket="site")
    assert anon(srv, "GET", "/site/index.html").status_code == 403


def test_malformed_policies_are_refused_with_the_reason(srv):
    root = srv.client()
    root.create_bucket(Bucket="strict")
    for doc, why in [
        ("{not json", "JSON"),
        (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::strict/*"}),
         "invalid action"),
        (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}),
         "invalid resource"),
        (policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::strict/*"}),
         "Principal"),
        (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::strict/*",
                 "Condition": {"StringEqualz": {"s3:prefix": "a"}}}), "Condition type"),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            root.put_bucket_policy(Bucket="strict", Policy=doc)
        assert e.value.response["Error"]["Code"] == "MalformedPolicy", doc
        assert why in e.value.response["Error"]["Message"], (doc, e.value.response["Error"])
    assert code(root.get_bucket_policy, Bucket="strict") == "NoSuchBucketPolicy", "nothing stored"


def test_another_user_reads_one_prefix_and_explicit_deny_wins(srv):
    root = srv.client()
    bob, _ = add_user(srv, "bob-reader")
    root.create_bucket(Bucket="shared")
    for k in ["public/a", "public/b", "private/c"]:
        root.put_object(Bucket="shared", Key=k, Body=k.encode())
    assert code(bob.get_object, Bucket="shared", Key="public/a") == "AccessDenied"
    root.put_bucket_policy(Bucket="shared", Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/bob-reader"},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/public/*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/bob-reader"},
         "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::shared",
         "Condition": {"StringLike": {"s3:prefix": ["public/*"]}}}))
    assert bob.get_object(Bucket="shared", Key="public/a")["Body"].read() == b"public/a"
    assert code(bob.get_object, Bucket="shared", Key="private/c") == "AccessDenied"
    assert code(bob.put_object, Bucket="shared", Key="public/z", Body=b"z") == "AccessDenied"
    keys = [o["Key"] for o in bob.list_objects_v2(Bucket="shared", Prefix="public/")["Contents"]]
    assert keys == ["public/a", "public/b"]
    assert code(bob.list_objects_v2, Bucket="shared") == "AccessDenied", "prefix condition"
    # An identity policy allows bob everything; a bucket policy's explicit deny still wins.
    doc = srv.tmp + "/all.json"
    with open(doc, "w") as f:
        f.write(policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    srv.admin("policy", "add", "everything", doc)
    srv.admin("policy", "attach", "everything", "--user", "bob-reader")
    bob.put_object(Bucket="shared", Key="private/by-bob", Body=b"b")
    assert bob.get_object(Bucket="shared", Key="private/c")["Body"].read() == b"private/c"
    root.put_bucket_policy(Bucket="shared", Policy=policy(
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam:::user/bob-reader"}, "Action": "s3:*",
         "Resource": "arn:aws:s3:::shared/private/*"}))
    assert code(bob.get_object, Bucket="shared", Key="private/c") == "AccessDenied"
    assert bob.get_object(Bucket="shared", Key="public/a")["Body"].read() == b"public/a"
    deleted = bob.delete_objects(Bucket="shared", Delete={"Objects": [{"Key": "private/c"}, {"Key": "public/b"}]})
    assert [e["Key"] for e in deleted.get("Errors", [])] == ["private/c"], deleted
    assert deleted["Errors"][0]["Code"] == "AccessDenied"
    assert [d["Key"] for d in deleted["Deleted"]] == ["public/b"]
    srv.admin("policy", "detach", "everything", "--user", "bob-reader")
    srv.admin("policy", "remove", "everything")


def test_ip_and_time_conditions(srv):
    root = srv.client()
    carol, _ = add_user(srv, "carol-cond")
    root.create_bucket(Bucket="conds")
    root.put_object(Bucket="conds", Key="k", Body=b"v")
    allow = lambda cond: policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/carol-cond"},
                                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::conds/*", "Condition": cond})
    for cond, ok in [
        ({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, False),
        ({"NotIpAddress": {"aws:SourceIp": "127.0.0.1/32"}}, False),
        ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, True),
        ({"DateGreaterThan": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, True),
        ({"StringEquals": {"aws:username": "carol-cond"}}, True),
    ]:
        root.put_bucket_policy(Bucket="conds", Policy=allow(cond))
        got = code(carol.get_object, Bucket="conds", Key="k")
        assert got == (None if ok else "AccessDenied"), (cond, got)


def test_acls_to_another_user_and_to_everyone_and_ownership(srv):
    root = srv.client()
    dave, _ = add_user(srv, "dave-acl")
    # New buckets have ACLs disabled (BucketOwnerEnforced), as on AWS.
    root.create_bucket(Bucket="enforced")
    assert root.get_bucket_ownership_controls(Bucket="enforced")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    assert code(root.put_bucket_acl, Bucket="enforced", ACL="public-read") == "AccessControlListNotSupported"
    assert code(root.put_object, Bucket="enforced", Key="k", Body=b"x", ACL="public-read") == \
        "AccessControlListNotSupported"
    root.put_object(Bucket="enforced", Key="k", Body=b"x", ACL="bucket-owner-full-control")
    assert code(root.create_bucket, Bucket="enforced-acl", ACL="public-read") == "InvalidBucketAclWithObjectOwnership"
    # A bucket whose writers own their objects, with ACLs.
    root.create_bucket(Bucket="acls", ObjectOwnership="ObjectWriter")
    root.put_object(Bucket="acls", Key="open", Body=b"for everyone", ACL="public-read")
    root.put_object(Bucket="acls", Key="dave", Body=b"for dave")
    root.put_object(Bucket="acls", Key="closed", Body=b"nobody")
    assert anon(srv, "GET", "/acls/open").content == b"for everyone"
    assert anon(srv, "GET", "/acls/closed").status_code == 403
    root_id = root.list_buckets()["Owner"]["ID"]
    srv.aws("s3api", "put-object-acl", "--bucket", "acls", "--key", "dave", "--grant-read",
            f"id={canonical(srv, 'dave-acl')}")
    assert dave.get_object(Bucket="acls", Key="dave")["Body"].read() == b"for dave"
    assert code(dave.get_object, Bucket="acls", Key="closed") == "AccessDenied"
    grants = root.get_object_acl(Bucket="acls", Key="dave")["Grants"]
    assert [g["Permission"] for g in grants] == ["READ"], "grant headers replace the whole ACL, as on AWS"
    assert root.get_object_acl(Bucket="acls", Key="dave")["Owner"]["ID"] == root_id
    # A bucket ACL giving dave writes; his objects are his (ObjectWriter).
    root.put_bucket_acl(Bucket="acls", GrantWrite=f"id={canonical(srv, 'dave-acl')}",
                        GrantFullControl=f"id={root_id}")
    dave.put_object(Bucket="acls", Key="from-dave", Body=b"mine")
    assert root.get_object_acl(Bucket="acls", Key="from-dave")["Owner"]["DisplayName"] == "dave-acl"
    assert code(root.put_object_acl, Bucket="acls", Key="open", GrantRead="emailAddress=nobody@example.com") == \
        "UnresolvableGrantByEmailAddress"
    assert code(root.put_object_acl, Bucket="acls", Key="open", GrantRead="id=" + "0" * 64) == "InvalidArgument"
    # Back to enforced ownership: refused while the bucket ACL grants others, then ACLs stop counting.
    assert code(root.put_bucket_ownership_controls, Bucket="acls",
                OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}) == \
        "InvalidBucketAclWithObjectOwnership"
    root.put_bucket_acl(Bucket="acls", ACL="private")
    root.put_bucket_ownership_controls(Bucket="acls", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert anon(srv, "GET", "/acls/open").status_code == 403, "ACLs disabled: the public-read grant counts no more"


def canonical(srv, name):
    """A user's canonical id, as S3 shows owners (64 hex digits derived from the name)."""
    import hashlib
    return hashlib.sha256(f"rustfs-user:{name}".encode()).hexdigest()


def test_public_access_block_overrides_public_policies_and_acls(srv):
    root = srv.client()
    root.create_bucket(Bucket="guarded", ObjectOwnership="ObjectWriter")
    root.put_object(Bucket="guarded", Key="k", Body=b"v", ACL="public-read")
    public = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::guarded/*"})
    root.put_bucket_policy(Bucket="guarded", Policy=public)
    assert anon(srv, "GET", "/guarded/k").status_code == 200
    assert code(root.get_public_access_block, Bucket="guarded") == "NoSuchPublicAccessBlockConfiguration"
    cfg = lambda **kw: {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                        "RestrictPublicBuckets": False, **kw}
    root.put_public_access_block(Bucket="guarded", PublicAccessBlockConfiguration=cfg(RestrictPublicBuckets=True))
    assert root.get_public_access_block(Bucket="guarded")["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"]
    # The public policy no longer serves anonymous callers; the public-read ACL still does.
    root.delete_bucket_policy(Bucket="guarded")
    root.put_bucket_policy(Bucket="guarded", Policy=public)
    root.put_public_access_block(Bucket="guarded", PublicAccessBlockConfiguration=cfg(
        RestrictPublicBuckets=True, IgnorePublicAcls=True))
    assert anon(srv, "GET", "/guarded/k").status_code == 403
    root.put_public_access_block(Bucket="guarded", PublicAccessBlockConfiguration=cfg(
        BlockPublicPolicy=True, BlockPublicAcls=True))
    assert code(root.put_bucket_policy, Bucket="guarded", Policy=public) == "AccessDenied"
    assert code(root.put_object, Bucket="guarded", Key="k2", Body=b"x", ACL="public-read") == "AccessDenied"
    assert code(root.put_object_acl, Bucket="guarded", Key="k", ACL="public-read-write") == "AccessDenied"
    root.delete_public_access_block(Bucket="guarded")
    assert anon(srv, "GET", "/guarded/k").status_code == 200


def test_user_lifecycle_keys_groups_and_policies(srv):
    root = srv.client()
    erin, secret = add_user(srv, "erin-life", secret="erin-secret-1")
    assert erin.list_buckets()["Buckets"] == [], "a new user sees no bucket"
    erin.create_bucket(Bucket="erins")
    erin.put_object(Bucket="erins", Key="k", Body=b"v")
    assert code(root.get_object, Bucket="erins", Key="k") is None, "root reads everything"
    listing = json.loads(srv.admin("--json", "user", "list").stdout)
    assert any(u["name"] == "erin-life" and u["enabled"] for u in listing["users"])
    assert "erin-secret-1" not in srv.admin("--json", "user", "list").stdout.decode()
    srv.admin("user", "disable", "erin-life")
    assert code(erin.list_buckets) == "InvalidAccessKeyId"
    srv.admin("user", "enable", "erin-life")
    assert erin.get_object(Bucket="erins", Key="k")["Body"].read() == b"v"
    # Another access key of the same user, and a group policy.
    k = json.loads(srv.admin("--json", "user", "key", "add", "erin-life").stdout)
    other = srv.client(access=k["access_key"], secret=k["secret_key"])
    assert other.get_object(Bucket="erins", Key="k")["Body"].read() == b"v"
    root.create_bucket(Bucket="team")
    root.put_object(Bucket="team", Key="doc", Body=b"team doc")
    assert code(erin.get_object, Bucket="team", Key="doc") == "AccessDenied"
    doc = srv.tmp + "/team.json"
    with open(doc, "w") as f:
        f.write(policy({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": ["arn:aws:s3:::team", "arn:aws:s3:::team/*"]}))
    srv.admin("policy", "add", "team-read", doc)
    srv.admin("group", "add", "team")
    srv.admin("policy", "attach", "team-read", "--group", "team")
    srv.admin("group", "add-member", "team", "erin-life")
    assert erin.get_object(Bucket="team", Key="doc")["Body"].read() == b"team doc"
    assert code(erin.put_object, Bucket="team", Key="x", Body=b"x") == "AccessDenied"
    assert "team" in [b["Name"] for b in erin.list_buckets()["Buckets"]]
    assert srv.admin("policy", "remove", "team-read", check=False).returncode != 0, "attached: refused"
    srv.admin("group", "remove-member", "team", "erin-life")
    assert code(erin.get_object, Bucket="team", Key="doc") == "AccessDenied"
    bad = srv.tmp + "/bad.json"
    with open(bad, "w") as f:
        f.write('{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}')
    p = srv.admin("policy", "add", "bad", bad, check=False)
    assert p.returncode != 0 and b"MalformedPolicy" in p.stdout + p.stderr
    srv.admin("user", "key", "remove", k["access_key"])
    assert code(other.list_buckets) == "InvalidAccessKeyId"
    srv.admin("user", "remove", "erin-life")
    assert code(erin.list_buckets) == "InvalidAccessKeyId"
    assert srv.admin("user", "remove", "erin-life", check=False).returncode != 0
    assert srv.admin("user", "add", "e2e-root", check=False).returncode != 0, "the configuration's user"


def test_users_survive_a_restart_and_secrets_are_not_on_disk_in_clear(srv):
    _, secret = add_user(srv, "frank-restart")
    srv.stop()
    srv.start()
    frank = srv.client(access="frank-restart", secret=secret)
    assert frank.list_buckets()["Buckets"] == []
    import os
    for root, _, files in os.walk(srv.data):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert secret.encode() not in fh.read(), f"the secret is in {f} in clear"
