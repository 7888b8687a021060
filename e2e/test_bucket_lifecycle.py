"""Bucket lifecycle through the real binary at an accelerated day (--lifecycle-day-secs 2,
a scan every second): configuration with AWS's validation (boto3 and aws-cli),
`x-amz-expiration` on writes and reads, current versions expiring by prefix and tag,
noncurrent versions expiring while the newest ones are kept, a lone delete marker removed,
incomplete multipart uploads aborted, a version object lock holds left alone, and the
scanner's progress in the admin API, `rustfs-admin lifecycle` and the metrics."""

import datetime
import json
import time

import botocore.exceptions
import pytest
import requests

from conftest import Server

DAY = 2


def code(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def eventually(cond, what, timeout=40):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_args=["--lifecycle-day-secs", str(DAY), "--lifecycle-interval-secs", "1"],
               env={"RUSTFS_METRICS_AUTH": "public"}).start()
    yield s
    s.cleanup()


def rule(id, **kw):
    r = {"ID": id, "Status": "Enabled", "Filter": {"Prefix": ""}}
    r.update(kw)
    return r


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def versions(s3, bucket, key):
    r = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [v["VersionId"] for v in r.get("Versions", []) if v["Key"] == key], \
        [m["VersionId"] for m in r.get("DeleteMarkers", []) if m["Key"] == key]


def test_configuration_is_validated_as_aws(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="lcconf")
    assert code(s3.get_bucket_lifecycle_configuration, Bucket="lcconf") == "NoSuchLifecycleConfiguration"
    put = lambda *rules: code(s3.put_bucket_lifecycle_configuration, Bucket="lcconf",
                              LifecycleConfiguration={"Rules": list(rules)})
    assert put(rule("a", Expiration={"Days": 0})) == "InvalidArgument"
    assert put(rule("a")) == "InvalidRequest", "a rule needs an action"
    assert put(rule("a", Expiration={"Days": 1}), rule("a", Expiration={"Days": 2})) == "InvalidArgument"
    assert put(rule("a", Expiration={"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.timezone.utc)})) \
        == "InvalidArgument"
    assert put(rule("a", Filter={"Tag": {"Key": "k", "Value": "v"}},
                    AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})) == "InvalidRequest"
    assert code(s3.get_bucket_lifecycle_configuration, Bucket="lcconf") == "NoSuchLifecycleConfiguration"
    rules = [
        rule("logs", Filter={"And": {"Prefix": "logs/", "Tags": [{"Key": "t", "Value": "1"}],
                                     "ObjectSizeGreaterThan": 10}}, Expiration={"Days": 30}),
        rule("old", Filter={"Prefix": "old/"}, NoncurrentVersionExpiration={"NoncurrentDays": 3,
                                                                           "NewerNoncurrentVersions": 2}),
        rule("mp", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 7}),
    ]
    assert put(*rules) is None
    got = s3.get_bucket_lifecycle_configuration(Bucket="lcconf")["Rules"]
    assert got == rules
    out = json.loads(srv.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", "lcconf").stdout)
    assert [r["ID"] for r in out["Rules"]] == ["logs", "old", "mp"]
    s3.delete_bucket_lifecycle(Bucket="lcconf")
    assert code(s3.get_bucket_lifecycle_configuration, Bucket="lcconf") == "NoSuchLifecycleConfiguration"


def test_current_versions_expire_by_prefix_and_tag(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="lcexp")
    s3.put_bucket_lifecycle_configuration(Bucket="lcexp", LifecycleConfiguration={"Rules": [
        rule("tmp", Filter={"Prefix": "tmp/"}, Expiration={"Days": 1}),
        rule("tagged", Filter={"Tag": {"Key": "expire", "Value": "yes"}}, Expiration={"Days": 2}),
    ]})
    r = s3.put_object(Bucket="lcexp", Key="tmp/a", Body=b"a")
    assert 'rule-id="tmp"' in r["Expiration"] and "expiry-date=" in r["Expiration"]
    assert 'rule-id="tmp"' in s3.head_object(Bucket="lcexp", Key="tmp/a")["Expiration"]
    s3.put_object(Bucket="lcexp", Key="keep/b", Body=b"b")
    assert "Expiration" not in s3.get_object(Bucket="lcexp", Key="keep/b")
    s3.put_object(Bucket="lcexp", Key="keep/tagged", Body=b"t", Tagging="expire=yes")
    eventually(lambda: keys(s3, "lcexp") == ["keep/b"], "tmp/a and the tagged object to expire")
    time.sleep(DAY)
    assert keys(s3, "lcexp") == ["keep/b"]


def test_noncurrent_versions_delete_markers_and_uploads(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="lcver")
    s3.put_bucket_versioning(Bucket="lcver", VersioningConfiguration={"Status": "Enabled"})
    v = [s3.put_object(Bucket="lcver", Key="k", Body=str(i).encode())["VersionId"] for i in range(3)]
    s3.put_object(Bucket="lcver", Key="gone", Body=b"g")
    s3.delete_object(Bucket="lcver", Key="gone")
    up = s3.create_multipart_upload(Bucket="lcver", Key="big")["UploadId"]
    s3.put_bucket_lifecycle_configuration(Bucket="lcver", LifecycleConfiguration={"Rules": [
        rule("nc", Filter={"Prefix": "k"},
             NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}),
        rule("dm", Filter={"Prefix": "gone"}, Expiration={"ExpiredObjectDeleteMarker": True},
             NoncurrentVersionExpiration={"NoncurrentDays": 1}),
        rule("mp", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1}),
    ]})
    # The oldest version goes; the newest noncurrent one stays with the current one.
    eventually(lambda: versions(s3, "lcver", "k")[0] == [v[2], v[1]], "the oldest noncurrent version to expire")
    # "gone": its object version expires as noncurrent, then the lone delete marker.
    eventually(lambda: versions(s3, "lcver", "gone") == ([], []), "the lone delete marker to go")
    eventually(lambda: not s3.list_multipart_uploads(Bucket="lcver").get("Uploads"), "the upload to be aborted")
    assert code(s3.list_parts, Bucket="lcver", Key="big", UploadId=up) == "NoSuchUpload"
    assert s3.get_object(Bucket="lcver", Key="k")["Body"].read() == b"2"
    st = json.loads(srv.admin("--json", "lifecycle").stdout)
    assert st["noncurrent_expired"] >= 2 and st["delete_markers_removed"] >= 1 and st["uploads_aborted"] >= 1, st
    text = srv.admin("lifecycle", "--wait").stdout.decode()
    assert "lifecycle scanner" in text and "uploads aborted" in text
    m = requests.get(srv.endpoint + "/metrics", timeout=30)
    assert m.status_code == 200
    line = [x for x in m.text.splitlines() if x.startswith('rustfs_lifecycle_actions_total{action="abort_upload"}')]
    assert line and float(line[0].split()[-1]) >= 1, line


def test_object_lock_keeps_versions_lifecycle_would_expire(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="lclock", ObjectLockEnabledForBucket=True)
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    locked = s3.put_object(Bucket="lclock", Key="k", Body=b"1", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=until)["VersionId"]
    free = s3.put_object(Bucket="lclock", Key="k", Body=b"2")["VersionId"]
    s3.put_object(Bucket="lclock", Key="k", Body=b"3")
    before = json.loads(srv.admin("--json", "lifecycle").stdout)["locked_skipped"]
    s3.put_bucket_lifecycle_configuration(Bucket="lclock", LifecycleConfiguration={"Rules": [
        rule("nc", NoncurrentVersionExpiration={"NoncurrentDays": 1})]})
    eventually(lambda: free not in versions(s3, "lclock", "k")[0], "the unlocked noncurrent version to expire")
    eventually(lambda: json.loads(srv.admin("--json", "lifecycle").stdout)["locked_skipped"] > before,
               "the scanner to skip the locked version")
    assert locked in versions(s3, "lclock", "k")[0]
    assert s3.get_object(Bucket="lclock", Key="k", VersionId=locked)["Body"].read() == b"1"
