"""Buckets and ownership: create (with LocationConstraint), head, list, location,
versioning config, delete only when empty, and users seeing only their own buckets."""

import pytest
from botocore.exceptions import ClientError

from conftest import ALT_ACCESS, ALT_SECRET, error_code, status


def test_bucket_lifecycle(s3):
    s3.create_bucket(Bucket="life-cycle", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.head_bucket(Bucket="life-cycle")
    assert s3.get_bucket_location(Bucket="life-cycle")["LocationConstraint"] == "eu-west-1"
    assert "life-cycle" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="life-cycle")
    assert error_code(e) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket="life-cycle", Key="k", Body=b"v")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="life-cycle")
    assert error_code(e) == "BucketNotEmpty"
    s3.delete_object(Bucket="life-cycle", Key="k")
    s3.delete_bucket(Bucket="life-cycle")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="life-cycle")
    assert status(e) == 404


def test_default_location(s3, bucket):
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (None, "")


@pytest.mark.parametrize("name", ["ab", "UPPER", "under_score", "-lead", "a" * 64, "192.168.1.1"])
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert status(e) == 400


def test_users_see_only_their_buckets_and_root_sees_all(server, s3, bucket):
    alt = server.client(access=ALT_ACCESS, secret=ALT_SECRET)
    alt.create_bucket(Bucket="alt-own-bucket")
    alt.put_object(Bucket="alt-own-bucket", Key="a", Body=b"alt data")
    s3.put_object(Bucket=bucket, Key="a", Body=b"root data")
    assert [b["Name"] for b in alt.list_buckets()["Buckets"]] == ["alt-own-bucket"]
    # The root user administers the deployment (as MinIO's root): it sees and reads all.
    assert "alt-own-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_object(Bucket="alt-own-bucket", Key="a")["Body"].read() == b"alt data"
    for call in (
        lambda: alt.get_object(Bucket=bucket, Key="a"),
        lambda: alt.put_object(Bucket=bucket, Key="b", Body=b"x"),
        lambda: alt.list_objects_v2(Bucket=bucket),
        lambda: alt.delete_bucket(Bucket=bucket),
        lambda: alt.head_bucket(Bucket=bucket),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert status(e) == 403
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket="alt-own-bucket")
    assert error_code(e) == "BucketAlreadyExists"


def test_versioning_configuration(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
