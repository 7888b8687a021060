"""Multipart uploads: create, upload parts, UploadPartCopy with ranges, list parts and
uploads, complete with ETag checks and S3's multipart ETag, abort, and the errors."""

import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, sha256

MIB = 1 << 20


def mp_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))


def test_multipart_round_trip(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 17), os.urandom(123)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="video/mp4", Metadata={"a": "b"})["UploadId"]
    etags = []
    for i, p in enumerate(parts, 1):
        etags.append(s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=i, Body=p)["ETag"])
    # Re-uploading part 2 replaces it.
    parts[1] = os.urandom(5 * MIB + 1)
    etags[1] = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=2, Body=parts[1])["ETag"]
    lp = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)
    assert [p["PartNumber"] for p in lp["Parts"]] == [1, 2, 3]
    assert [p["ETag"] for p in lp["Parts"]] == etags
    lp = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up, MaxParts=2)
    assert lp["IsTruncated"] and lp["NextPartNumberMarker"] == 2
    assert up in [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="mp")
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]},
    )
    assert r["ETag"] == mp_etag(parts)
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert sha256(g["Body"].read()) == sha256(b"".join(parts))
    assert g["ContentType"] == "video/mp4" and g["Metadata"] == {"a": "b"}
    h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert h["ContentLength"] == len(parts[1]) and h["PartsCount"] == 3
    rng = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MIB - 5}-{5 * MIB + 4}")["Body"].read()
    assert rng == (parts[0] + parts[1])[5 * MIB - 5 : 5 * MIB + 5]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)
    assert error_code(e) == "NoSuchUpload"


def test_complete_errors(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="bad", UploadId=up, PartNumber=1, Body=b"tiny")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key="bad", UploadId=up, PartNumber=2, Body=b"end")["ETag"]

    def complete(parts):
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=up, MultipartUpload={"Parts": parts})
        return error_code(e)

    assert complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]) == "EntityTooSmall"
    assert complete([{"PartNumber": 1, "ETag": '"deadbeef"'}]) == "InvalidPart"
    assert complete([{"PartNumber": 3, "ETag": small}]) == "InvalidPart"
    assert complete([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}]) == "InvalidPartOrder"
    # A single small part is fine (the last part may be small).
    s3.complete_multipart_upload(Bucket=bucket, Key="bad", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": last}]})
    assert s3.get_object(Bucket=bucket, Key="bad")["Body"].read() == b"end"


def test_abort_and_unknown_upload(server, s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="ab", UploadId=up, PartNumber=1, Body=os.urandom(MIB))
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=up)
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId=up, PartNumber=2, Body=b"x")
    assert error_code(e) == "NoSuchUpload"
    assert not os.path.exists(os.path.join(server.drives()[0], bucket, "ab")), "aborted parts are removed"
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId="nope", PartNumber=1, Body=b"x")
    assert error_code(e) == "NoSuchUpload"
    with pytest.raises(ClientError) as e:
        up = s3.create_multipart_upload(Bucket=bucket, Key="pn")["UploadId"]
        s3.upload_part(Bucket=bucket, Key="pn", UploadId=up, PartNumber=10001, Body=b"x")
    assert error_code(e) == "InvalidArgument"


def test_upload_part_copy(s3, bucket):
    src = os.urandom(7 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MIB - 1}")
    p2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes={6 * MIB}-{7 * MIB - 1}")
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up, PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{8 * MIB}")
    assert error_code(e) == "InvalidRange"
    parts = [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=up, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=bucket, Key="dst")["Body"].read()
    assert got == src[: 5 * MIB] + src[6 * MIB :]
