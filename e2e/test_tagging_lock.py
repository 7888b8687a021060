"""Tagging and object lock through the real binary with boto3 and aws-cli, on whichever
metadata engine the suite runs (the legacy engine keeps them in xl.meta under MinIO's
names): object tags per version and on every kind of write (PUT, copy with its tagging
directive, multipart), AWS's limits and errors, the tag count on GET/HEAD, bucket tags,
tags in policy conditions (s3:ExistingObjectTag, s3:RequestObjectTag); buckets created
with object lock (versioning forced on and kept), default retention, GOVERNANCE that only
a caller with the bypass permission and header may shorten or remove, COMPLIANCE that
nobody (not even root) may remove before its date, legal hold, and the locks surviving a
restart."""

import datetime
import json

import botocore.exceptions
import pytest

from conftest import Server


def code(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


@pytest.fixture(scope="module")
def srv():
    s = Server().start()
    yield s
    s.cleanup()


def tagset(d):
    return {"TagSet": [{"Key": k, "Value": v} for k, v in d.items()]}


def tags_of(s3, bucket, key, **kw):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def test_object_tags_on_every_write_and_per_version(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="tags")
    s3.put_object(Bucket="tags", Key="a", Body=b"1", Tagging="project=blue%20sky&team=")
    assert tags_of(s3, "tags", "a") == {"project": "blue sky", "team": ""}
    g = s3.get_object(Bucket="tags", Key="a")
    assert g["TagCount"] == 2
    h = s3.head_object(Bucket="tags", Key="a")
    assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    # PutObjectTagging replaces the set; DeleteObjectTagging empties it.
    s3.put_object_tagging(Bucket="tags", Key="a", Tagging=tagset({"k": "v"}))
    assert tags_of(s3, "tags", "a") == {"k": "v"}
    s3.delete_object_tagging(Bucket="tags", Key="a")
    assert tags_of(s3, "tags", "a") == {}
    assert "x-amz-tagging-count" not in s3.head_object(Bucket="tags", Key="a")["ResponseMetadata"]["HTTPHeaders"]
    # Copy: tags come along (COPY) or from the request (REPLACE).
    s3.put_object_tagging(Bucket="tags", Key="a", Tagging=tagset({"src": "1"}))
    s3.copy_object(Bucket="tags", Key="b", CopySource={"Bucket": "tags", "Key": "a"})
    assert tags_of(s3, "tags", "b") == {"src": "1"}
    s3.copy_object(Bucket="tags", Key="c", CopySource={"Bucket": "tags", "Key": "a"},
                   TaggingDirective="REPLACE", Tagging="new=2")
    assert tags_of(s3, "tags", "c") == {"new": "2"}
    # Multipart: tags given at creation.
    up = s3.create_multipart_upload(Bucket="tags", Key="mp", Tagging="m=p")
    p = s3.upload_part(Bucket="tags", Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * 100)
    s3.complete_multipart_upload(Bucket="tags", Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})
    assert tags_of(s3, "tags", "mp") == {"m": "p"}
    # Per version.
    s3.create_bucket(Bucket="tagsv")
    s3.put_bucket_versioning(Bucket="tagsv", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="tagsv", Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    v2 = s3.put_object(Bucket="tagsv", Key="k", Body=b"2")["VersionId"]
    r = s3.put_object_tagging(Bucket="tagsv", Key="k", VersionId=v1, Tagging=tagset({"v": "one"}))
    assert r["VersionId"] == v1
    assert tags_of(s3, "tagsv", "k", VersionId=v1) == {"v": "one"}
    assert tags_of(s3, "tagsv", "k") == {} and tags_of(s3, "tagsv", "k", VersionId=v2) == {}
    assert code(s3.get_object_tagging, Bucket="tags", Key="missing") == "NoSuchKey"


def test_tag_limits_and_errors_as_aws(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="taglim")
    s3.put_object(Bucket="taglim", Key="o", Body=b"")
    put = lambda d: code(s3.put_object_tagging, Bucket="taglim", Key="o", Tagging=tagset(d))
    assert put({f"k{i}": "v" for i in range(10)}) is None
    assert put({f"k{i}": "v" for i in range(11)}) == "BadRequest"
    assert put({"k" * 129: "v"}) == "InvalidTag"
    assert put({"k": "v" * 257}) == "InvalidTag"
    assert put({"aws:x": "v"}) == "InvalidTag"
    assert put({"k": "a<b"}) == "InvalidTag"
    dup = {"TagSet": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}
    assert code(s3.put_object_tagging, Bucket="taglim", Key="o", Tagging=dup) == "InvalidTag"
    assert tags_of(s3, "taglim", "o") == {f"k{i}": "v" for i in range(10)}, "a refused set changes nothing"
    assert code(s3.put_object, Bucket="taglim", Key="p", Body=b"", Tagging="a=1&a=2") == "InvalidArgument"
    assert code(s3.head_object, Bucket="taglim", Key="p") == "404", "a refused PUT stores nothing"
    # Bucket tags: up to 50, NoSuchTagSet when none.
    assert code(s3.get_bucket_tagging, Bucket="taglim") == "NoSuchTagSet"
    assert code(s3.put_bucket_tagging, Bucket="taglim", Tagging=tagset({f"k{i}": "v" for i in range(51)})) \
        == "InvalidTag"
    s3.put_bucket_tagging(Bucket="taglim", Tagging=tagset({f"k{i}": "v" for i in range(50)}))
    assert len(s3.get_bucket_tagging(Bucket="taglim")["TagSet"]) == 50
    out = srv.aws("s3api", "get-bucket-tagging", "--bucket", "taglim")
    assert len(json.loads(out.stdout)["TagSet"]) == 50
    s3.delete_bucket_tagging(Bucket="taglim")
    assert code(s3.get_bucket_tagging, Bucket="taglim") == "NoSuchTagSet"


def test_tags_in_policy_conditions(srv):
    s3 = srv.client()
    c = json.loads(srv.admin("--json", "user", "add", "tagger").stdout)
    user = srv.client(access=c["access_key"], secret=c["secret_key"])
    s3.create_bucket(Bucket="tagpol")
    s3.put_object(Bucket="tagpol", Key="public", Body=b"p", Tagging="class=public")
    s3.put_object(Bucket="tagpol", Key="secret", Body=b"s", Tagging="class=secret")
    s3.put_bucket_policy(Bucket="tagpol", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/tagger"}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::tagpol/*", "Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/tagger"}, "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::tagpol/*", "Condition": {"StringEquals": {"s3:RequestObjectTag/owner": "tagger"}}},
    ]}))
    assert user.get_object(Bucket="tagpol", Key="public")["Body"].read() == b"p"
    assert code(user.get_object, Bucket="tagpol", Key="secret") == "AccessDenied"
    # Retagging changes the decision.
    s3.put_object_tagging(Bucket="tagpol", Key="secret", Tagging=tagset({"class": "public"}))
    assert user.get_object(Bucket="tagpol", Key="secret")["Body"].read() == b"s"
    assert code(user.put_object, Bucket="tagpol", Key="new", Body=b"n") == "AccessDenied"
    user.put_object(Bucket="tagpol", Key="new", Body=b"n", Tagging="owner=tagger")


def in_days(d):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=d)


def test_object_lock_governance_compliance_and_legal_hold(srv):
    s3 = srv.client()
    # Lock needs a bucket created with it (or versioning on).
    s3.create_bucket(Bucket="plain")
    assert code(s3.put_object, Bucket="plain", Key="k", Body=b"", ObjectLockMode="GOVERNANCE",
                ObjectLockRetainUntilDate=in_days(1)) == "InvalidRequest"
    assert code(s3.put_object_lock_configuration, Bucket="plain",
                ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}) == "InvalidBucketState"
    assert code(s3.get_object_lock_configuration, Bucket="plain") == "ObjectLockConfigurationNotFoundError"
    s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket="vault")["Status"] == "Enabled"
    assert code(s3.put_bucket_versioning, Bucket="vault",
                VersioningConfiguration={"Status": "Suspended"}) == "InvalidBucketState"
    cfg = s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]
    assert cfg == {"ObjectLockEnabled": "Enabled"}
    # GOVERNANCE: removable only with the bypass header and permission.
    g = s3.put_object(Bucket="vault", Key="gov", Body=b"g", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=in_days(1))["VersionId"]
    h = s3.head_object(Bucket="vault", Key="gov")
    assert h["ObjectLockMode"] == "GOVERNANCE" and h["ObjectLockRetainUntilDate"] > in_days(0.9)
    assert code(s3.delete_object, Bucket="vault", Key="gov", VersionId=g) == "AccessDenied"
    # A delete without a version id only adds a delete marker.
    dm = s3.delete_object(Bucket="vault", Key="gov")
    assert dm["DeleteMarker"] is True
    s3.delete_object(Bucket="vault", Key="gov", VersionId=dm["VersionId"])
    c = json.loads(srv.admin("--json", "user", "add", "locker").stdout)
    user = srv.client(access=c["access_key"], secret=c["secret_key"])
    s3.put_bucket_policy(Bucket="vault", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/locker"},
         "Action": ["s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:GetObjectRetention"],
         "Resource": "arn:aws:s3:::vault/*"}]}))
    assert code(user.delete_object, Bucket="vault", Key="gov", VersionId=g,
                BypassGovernanceRetention=True) == "AccessDenied", "the header alone is not enough"
    # Shortening needs the bypass too; extending does not.
    assert code(user.put_object_retention, Bucket="vault", Key="gov", VersionId=g,
                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(0.5)}) == "AccessDenied"
    user.put_object_retention(Bucket="vault", Key="gov", VersionId=g,
                              Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(2)})
    assert user.get_object_retention(Bucket="vault", Key="gov", VersionId=g)["Retention"]["RetainUntilDate"] \
        > in_days(1.9)
    s3.put_bucket_policy(Bucket="vault", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/locker"},
         "Action": ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"],
         "Resource": "arn:aws:s3:::vault/*"}]}))
    assert code(user.delete_object, Bucket="vault", Key="gov", VersionId=g) == "AccessDenied"
    user.delete_object(Bucket="vault", Key="gov", VersionId=g, BypassGovernanceRetention=True)
    assert code(s3.head_object, Bucket="vault", Key="gov", VersionId=g) in ("404", "NoSuchVersion")
    # COMPLIANCE: nobody, not root with the bypass, removes or shortens it.
    c1 = s3.put_object(Bucket="vault", Key="comp", Body=b"c", ObjectLockMode="COMPLIANCE",
                       ObjectLockRetainUntilDate=in_days(1))["VersionId"]
    assert code(s3.delete_object, Bucket="vault", Key="comp", VersionId=c1,
                BypassGovernanceRetention=True) == "AccessDenied"
    r = s3.delete_objects(Bucket="vault", BypassGovernanceRetention=True,
                          Delete={"Objects": [{"Key": "comp", "VersionId": c1}]})
    assert [e["Code"] for e in r.get("Errors", [])] == ["AccessDenied"]
    assert code(s3.put_object_retention, Bucket="vault", Key="comp", VersionId=c1, BypassGovernanceRetention=True,
                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)}) == "AccessDenied"
    assert code(s3.put_object_retention, Bucket="vault", Key="comp", VersionId=c1,
                Retention={}) in ("AccessDenied", "MalformedXML")
    assert s3.get_object(Bucket="vault", Key="comp", VersionId=c1)["Body"].read() == b"c"
    # Legal hold: holds without any retention, until it is turned off.
    lh = s3.put_object(Bucket="vault", Key="held", Body=b"h", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.get_object_legal_hold(Bucket="vault", Key="held")["LegalHold"]["Status"] == "ON"
    assert code(s3.delete_object, Bucket="vault", Key="held", VersionId=lh, BypassGovernanceRetention=True) \
        == "AccessDenied"
    s3.put_object_legal_hold(Bucket="vault", Key="held", LegalHold={"Status": "OFF"})
    assert s3.get_object_legal_hold(Bucket="vault", Key="held")["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket="vault", Key="held", VersionId=lh)
    # Past dates and half-given retention are refused.
    assert code(s3.put_object, Bucket="vault", Key="x", Body=b"", ObjectLockMode="GOVERNANCE",
                ObjectLockRetainUntilDate=in_days(-1)) == "InvalidArgument"
    assert code(s3.put_object, Bucket="vault", Key="x", Body=b"", ObjectLockMode="GOVERNANCE") == "InvalidArgument"
    # Locks survive a restart.
    srv.stop()
    srv.start()
    s3 = srv.client()
    assert code(s3.delete_object, Bucket="vault", Key="comp", VersionId=c1) == "AccessDenied"
    assert s3.head_object(Bucket="vault", Key="comp", VersionId=c1)["ObjectLockMode"] == "COMPLIANCE"


def test_default_retention_applies_to_new_versions(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="defret", ObjectLockEnabledForBucket=True)
    assert code(s3.put_object_lock_configuration, Bucket="defret", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}}) \
        == "InvalidArgument"
    s3.put_object_lock_configuration(Bucket="defret", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}})
    cfg = s3.get_object_lock_configuration(Bucket="defret")["ObjectLockConfiguration"]
    assert cfg["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 2}
    v = s3.put_object(Bucket="defret", Key="k", Body=b"1")["VersionId"]
    r = s3.get_object_retention(Bucket="defret", Key="k")["Retention"]
    assert r["Mode"] == "COMPLIANCE" and in_days(1.9) < r["RetainUntilDate"] < in_days(2.1)
    assert code(s3.delete_object, Bucket="defret", Key="k", VersionId=v) == "AccessDenied"
    # aws-cli reads the same configuration.
    out = json.loads(srv.aws("s3api", "get-object-lock-configuration", "--bucket", "defret").stdout)
    assert out["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] == 2
    up = s3.create_multipart_upload(Bucket="defret", Key="mp")
    p = s3.upload_part(Bucket="defret", Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"x")
    mv = s3.complete_multipart_upload(Bucket="defret", Key="mp", UploadId=up["UploadId"],
                                      MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]})["VersionId"]
    assert code(s3.delete_object, Bucket="defret", Key="mp", VersionId=mv) == "AccessDenied"
