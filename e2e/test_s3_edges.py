"""S3 edge behaviours as AWS documents them, through the real binary with boto3, aws-cli and
raw HTTP: a repeated CompleteMultipartUpload answers 200 again; no x-amz-version-id in a
bucket that never had versioning; x-amz-delete-marker where AWS sends it; ListObjects with
max-keys=0, an empty delimiter, the marker echoed, URL-encoded prefixes and delimiters;
ListBuckets pages (max-buckets, continuation token); Content-Encoding stored without
aws-chunked; CreateBucket of an owned bucket in us-east-1; partNumber GETs with AWS's
errors."""

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


def test_repeated_complete_answers_200(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="edge-mp")
    up = s3.create_multipart_upload(Bucket="edge-mp", Key="k")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="edge-mp", Key="k", UploadId=up, PartNumber=n,
                                                      Body=bytes([n]) * (5 << 20 if n == 1 else 10))["ETag"]}
             for n in (1, 2)]
    first = s3.complete_multipart_upload(Bucket="edge-mp", Key="k", UploadId=up, MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket="edge-mp", Key="k", UploadId=up, MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"]
    # Other parts, or another object there now: the upload is gone.
    assert code(s3.complete_multipart_upload, Bucket="edge-mp", Key="k", UploadId=up,
                MultipartUpload={"Parts": parts[:1]}) == "NoSuchUpload"
    s3.put_object(Bucket="edge-mp", Key="k", Body=b"other")
    assert code(s3.complete_multipart_upload, Bucket="edge-mp", Key="k", UploadId=up,
                MultipartUpload={"Parts": parts}) == "NoSuchUpload"


def test_version_ids_and_delete_markers(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="edge-nv")
    r = s3.put_object(Bucket="edge-nv", Key="k", Body=b"1")
    assert "VersionId" not in r and "x-amz-version-id" not in r["ResponseMetadata"]["HTTPHeaders"]
    d = s3.delete_object(Bucket="edge-nv", Key="k")
    assert "x-amz-delete-marker" not in d["ResponseMetadata"]["HTTPHeaders"]
    s3.create_bucket(Bucket="edge-v")
    s3.put_bucket_versioning(Bucket="edge-v", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="edge-v", Key="k", Body=b"1")
    d = s3.delete_object(Bucket="edge-v", Key="k")
    h = d["ResponseMetadata"]["HTTPHeaders"]
    assert h["x-amz-delete-marker"] == "true" and h["x-amz-version-id"] == d["VersionId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket="edge-v", Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    # Removing the marker by its id says it was one.
    r = s3.delete_object(Bucket="edge-v", Key="k", VersionId=d["VersionId"])
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert s3.get_object(Bucket="edge-v", Key="k")["Body"].read() == b"1"


def test_list_edges(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="edge-list")
    for k in ["a b/1", "a b/2", "a+c", "z%2Fq", "é/x"]:
        s3.put_object(Bucket="edge-list", Key=k, Body=b"")
    r = s3.list_objects_v2(Bucket="edge-list", MaxKeys=0)
    assert r.get("Contents", []) == [] and r["KeyCount"] == 0
    r = s3.list_objects(Bucket="edge-list", MaxKeys=0)
    assert r.get("Contents", []) == []
    r = s3.list_objects_v2(Bucket="edge-list", Delimiter="")
    assert len(r["Contents"]) == 5 and "CommonPrefixes" not in r
    r = s3.list_objects(Bucket="edge-list", Marker="a b/2")
    assert r["Marker"] == "a b/2" and [o["Key"] for o in r["Contents"]] == ["a+c", "z%2Fq", "é/x"]
    r = s3.list_objects_v2(Bucket="edge-list", Prefix="a b/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a b/1", "a b/2"]
    r = s3.list_objects_v2(Bucket="edge-list", Delimiter="/")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a b/", "é/"]
    # encoding-type=url: keys, prefixes and delimiters come back URL-encoded (boto3 decodes
    # them; the raw answer shows it).
    seen = []
    s3.meta.events.register("after-call.s3.ListObjectsV2", lambda http_response, **_: seen.append(http_response.text))
    s3.list_objects_v2(Bucket="edge-list", EncodingType="url", Delimiter="/", Prefix="a")
    assert "<Prefix>a%20b/</Prefix>" in seen[0] and "<Key>a%2Bc</Key>" in seen[0], seen
    r = s3.list_objects_v2(Bucket="edge-list", Prefix="é", Delimiter="/", EncodingType="url")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["%C3%A9/"], "asked for by the caller: left encoded"


def test_list_buckets_pages(srv):
    s3 = srv.client()
    names = [f"edge-page-{i:02}" for i in range(5)]
    for n in names:
        s3.create_bucket(Bucket=n)
    seen, token = [], None
    while True:
        kw = {"MaxBuckets": 2, "Prefix": "edge-page-"}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_buckets(**kw)
        seen += [b["Name"] for b in r["Buckets"]]
        assert len(r["Buckets"]) <= 2
        token = r.get("ContinuationToken")
        if not token:
            break
    assert seen == names
    assert code(s3.list_buckets, ContinuationToken="!!!") == "InvalidArgument"


def test_content_encoding_create_bucket_and_part_numbers(srv):
    s3 = srv.client()
    assert code(s3.create_bucket, Bucket="edge-misc") is None
    assert code(s3.create_bucket, Bucket="edge-misc") is None, "us-east-1: an owned bucket again is 200"
    s3.create_bucket(Bucket="edge-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(s3.create_bucket, Bucket="edge-eu") == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket="edge-misc", Key="gz", Body=b"x", ContentEncoding="aws-chunked,gzip")
    assert s3.head_object(Bucket="edge-misc", Key="gz")["ContentEncoding"] == "gzip"
    s3.put_object(Bucket="edge-misc", Key="plain", Body=b"x", ContentEncoding="aws-chunked")
    assert "ContentEncoding" not in s3.head_object(Bucket="edge-misc", Key="plain")
    s3.put_object(Bucket="edge-misc", Key="one", Body=b"hello")
    r = s3.get_object(Bucket="edge-misc", Key="one", PartNumber=1)
    assert r["Body"].read() == b"hello" and r["PartsCount"] == 1
    assert code(s3.get_object, Bucket="edge-misc", Key="one", PartNumber=2) == "InvalidPartNumber"
    assert code(s3.head_object, Bucket="edge-misc", Key="one", PartNumber=0) == "400"
    assert code(s3.get_object, Bucket="edge-misc", Key="one", PartNumber=1, Range="bytes=0-1") == "InvalidRequest"


def test_chunked_put_without_a_length_is_refused(srv):
    import http.client
    import urllib.parse
    s3 = srv.client()
    s3.create_bucket(Bucket="edge-len")

    def put(key, body):
        u = urllib.parse.urlsplit(s3.generate_presigned_url("put_object", Params={"Bucket": "edge-len", "Key": key}))
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        c.request("PUT", f"{u.path}?{u.query}", body=body)
        r = c.getresponse()
        out = (r.status, r.read())
        c.close()
        return out

    status, body = put("nolen", iter([b"abc"]))
    assert status == 411 and b"<Code>MissingContentLength</Code>" in body, body
    assert code(s3.head_object, Bucket="edge-len", Key="nolen") == "404", "nothing stored"
    assert put("withlen", b"abc")[0] == 200
    assert s3.get_object(Bucket="edge-len", Key="withlen")["Body"].read() == b"abc"


def test_object_attributes_and_composite_checksums(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="edge-attr")
    s3.put_object(Bucket="edge-attr", Key="one", Body=b"hello", ChecksumAlgorithm="SHA256")
    a = s3.get_object_attributes(Bucket="edge-attr", Key="one",
                                 ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass", "ObjectParts"])
    # (s3s writes the ETag element quoted, where AWS leaves it bare)
    assert a["ETag"].strip('"') == "5d41402abc4b2a76b9719d911017c592" and a["ObjectSize"] == 5
    assert a["StorageClass"] == "STANDARD" and "ObjectParts" not in a
    assert a["Checksum"]["ChecksumSHA256"] == "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
    assert a["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    only = s3.get_object_attributes(Bucket="edge-attr", Key="one", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == 5 and "ETag" not in only
    assert code(s3.get_object_attributes, Bucket="edge-attr", Key="missing", ObjectAttributes=["ETag"]) == "NoSuchKey"
    # Multipart with CRC32 parts: a composite checksum, parts listed by pages.
    up = s3.create_multipart_upload(Bucket="edge-attr", Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for n in (1, 2, 3):
        body = bytes([n]) * (5 << 20 if n < 3 else 7)
        r = s3.upload_part(Bucket="edge-attr", Key="mp", UploadId=up, PartNumber=n, Body=body, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket="edge-attr", Key="mp", UploadId=up, MultipartUpload={"Parts": parts})
    a = s3.get_object_attributes(Bucket="edge-attr", Key="mp", ObjectAttributes=["Checksum", "ObjectParts"],
                                 MaxParts=2)
    import base64
    import zlib
    raw = b"".join(base64.b64decode(p["ChecksumCRC32"]) for p in parts)
    want = base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-3"
    assert a["Checksum"]["ChecksumCRC32"] == want and a["Checksum"]["ChecksumType"] == "COMPOSITE"
    op = a["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["IsTruncated"] is True and op["NextPartNumberMarker"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(1, 5 << 20), (2, 5 << 20)]
    rest = s3.get_object_attributes(Bucket="edge-attr", Key="mp", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=2)["ObjectParts"]
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 7)] and rest["IsTruncated"] is False
    out = srv.aws("s3api", "get-object-attributes", "--bucket", "edge-attr", "--key", "mp",
                  "--object-attributes", "ETag", "ObjectSize").stdout
    assert b'"ObjectSize": 10485767' in out
