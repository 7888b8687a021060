"""CopyObject (COPY/REPLACE, onto itself, conditions) and DeleteObjects (quiet, 1000 keys)."""

import os

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, sha256, status


@pytest.mark.parametrize("size", [100, 2 * (1 << 20) + 5])
def test_copy_object(s3, bucket, size):
    data = os.urandom(size)
    etag = s3.put_object(Bucket=bucket, Key="s", Body=data, ContentType="a/b", Metadata={"m": "1"})["ETag"]
    r = s3.copy_object(Bucket=bucket, Key="d", CopySource={"Bucket": bucket, "Key": "s"})
    assert r["CopyObjectResult"]["ETag"] == etag
    h = s3.head_object(Bucket=bucket, Key="d")
    assert h["ContentType"] == "a/b" and h["Metadata"] == {"m": "1"}
    assert sha256(s3.get_object(Bucket=bucket, Key="d")["Body"].read()) == sha256(data)
    s3.copy_object(Bucket=bucket, Key="d2", CopySource={"Bucket": bucket, "Key": "s"}, MetadataDirective="REPLACE",
                   ContentType="c/d", Metadata={"n": "2"})
    h = s3.head_object(Bucket=bucket, Key="d2")
    assert h["ContentType"] == "c/d" and h["Metadata"] == {"n": "2"}
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="s", CopySource={"Bucket": bucket, "Key": "s"})
    assert error_code(e) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="s", CopySource={"Bucket": bucket, "Key": "s"}, MetadataDirective="REPLACE",
                   Metadata={"fresh": "yes"})
    assert s3.head_object(Bucket=bucket, Key="s")["Metadata"] == {"fresh": "yes"}
    assert sha256(s3.get_object(Bucket=bucket, Key="s")["Body"].read()) == sha256(data)
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d3", CopySource={"Bucket": bucket, "Key": "s"}, CopySourceIfMatch='"nope"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d3", CopySource={"Bucket": bucket, "Key": "s"}, CopySourceIfNoneMatch=etag)
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="d3", CopySource={"Bucket": bucket, "Key": "missing"})
    assert error_code(e) == "NoSuchKey"


def test_delete_objects(s3, bucket):
    keys = [f"k{i:04d}" for i in range(1000)]
    for k in keys[:50]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    assert "Deleted" not in r or r["Deleted"] == [] and "Errors" not in r
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "one"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["never", "one"]
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"x{i}"} for i in range(1001)]})
    assert status(e) == 400


def test_delete_missing_is_204(s3, bucket):
    r = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
