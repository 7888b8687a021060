"""Versioning: version ids, delete markers, GET/HEAD/DELETE by version id, listing
versions with markers, and the null version of a suspended bucket."""

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, status


def test_versions_and_markers(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two" * 100000)["VersionId"]
    assert v1 != v2 and v1 != "null"
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v2
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v2)["ContentLength"] == 300000
    d = s3.delete_object(Bucket=bucket, Key="k")
    assert d["DeleteMarker"] is True
    marker = d["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(e) == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert status(e) == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    lv = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in lv["Versions"]] == [v2, v1]
    assert [m["VersionId"] for m in lv["DeleteMarkers"]] == [marker]
    assert lv["DeleteMarkers"][0]["IsLatest"] is True
    assert not any(v["IsLatest"] for v in lv["Versions"])
    # Removing the marker brings v2 back.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == v2
    # Deleting a version permanently.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert error_code(e) == "NoSuchVersion"


def test_version_listing_pages(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    want = []
    for k in ["a", "b", "c"]:
        ids = [s3.put_object(Bucket=bucket, Key=k, Body=k.encode() * i)["VersionId"] for i in range(1, 4)]
        want += [(k, v) for v in reversed(ids)]
    got, km, vm = [], None, None
    while True:
        args = {"Bucket": bucket, "MaxKeys": 2}
        if km:
            args.update(KeyMarker=km, VersionIdMarker=vm)
        r = s3.list_object_versions(**args)
        got += [(v["Key"], v["VersionId"]) for v in r.get("Versions", [])]
        if not r["IsTruncated"]:
            break
        km, vm = r["NextKeyMarker"], r["NextVersionIdMarker"]
    assert got == want


def test_suspended_null_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="s", Body=b"v1")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    r = s3.put_object(Bucket=bucket, Key="s", Body=b"null-1")
    assert r.get("VersionId") == "null"
    s3.put_object(Bucket=bucket, Key="s", Body=b"null-2")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (v1, False)]
    assert s3.get_object(Bucket=bucket, Key="s", VersionId="null")["Body"].read() == b"null-2"
    d = s3.delete_object(Bucket=bucket, Key="s")
    assert d["DeleteMarker"] is True and d["VersionId"] == "null"
    lv = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in lv["Versions"]] == [v1]
    assert s3.get_object(Bucket=bucket, Key="s", VersionId=v1)["Body"].read() == b"v1"
