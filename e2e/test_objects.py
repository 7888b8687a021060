"""Objects through boto3: PUT/GET/HEAD round trips (inline and erasure-coded sizes),
metadata and standard headers, Content-MD5 and checksums, conditional requests, ranges."""

import base64
import datetime
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from conftest import data_dirs, error_code, sha256, status

SIZES = [0, 1, 4096, 128 * 1024, 128 * 1024 + 1, (1 << 20) + 7, 5 * (1 << 20) + 3]


@pytest.mark.parametrize("size", SIZES)
def test_put_get_round_trip(s3, bucket, size):
    data = os.urandom(size)
    r = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=data)
    assert r["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()
    got = s3.get_object(Bucket=bucket, Key=f"obj-{size}")
    assert sha256(got["Body"].read()) == sha256(data)
    assert got["ContentLength"] == size
    h = s3.head_object(Bucket=bucket, Key=f"obj-{size}")
    assert h["ContentLength"] == size and h["ETag"] == r["ETag"]


def test_metadata_and_standard_headers(s3, bucket):
    exp = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket, Key="m", Body=b"x", ContentType="text/plain", CacheControl="max-age=60",
        ContentDisposition='attachment; filename="a.txt"', ContentEncoding="identity", ContentLanguage="en",
        Expires=exp, Metadata={"Color": "blue", "k2": "v2"},
    )
    h = s3.head_object(Bucket=bucket, Key="m")
    assert h["ContentType"] == "text/plain"
    assert h["CacheControl"] == "max-age=60"
    assert h["ContentDisposition"] == 'attachment; filename="a.txt"'
    assert h["ContentEncoding"] == "identity"
    assert h["ContentLanguage"] == "en"
    assert h["Expires"] == exp
    assert h["Metadata"] == {"color": "blue", "k2": "v2"}
    g = s3.get_object(Bucket=bucket, Key="m", ResponseContentType="application/x-test", ResponseCacheControl="no-cache")
    assert g["ContentType"] == "application/x-test" and g["CacheControl"] == "no-cache"


def test_content_md5(s3, bucket):
    data = b"hello world"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=data, ContentMD5=bad)
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="md5-bad")
    assert status(e) == 404, "a rejected PUT leaves nothing behind"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=data, ContentMD5="not-base64!")
    assert error_code(e) == "InvalidDigest"


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
@pytest.mark.parametrize("size", [10, 300 * 1024])
def test_checksums_stream_with_trailer(s3, bucket, alg, size):
    data = os.urandom(size)
    r = s3.put_object(Bucket=bucket, Key=f"ck-{alg}", Body=data, ChecksumAlgorithm=alg)
    assert f"Checksum{alg}" in r
    h = s3.head_object(Bucket=bucket, Key=f"ck-{alg}", ChecksumMode="ENABLED")
    assert h[f"Checksum{alg}"] == r[f"Checksum{alg}"]
    assert sha256(s3.get_object(Bucket=bucket, Key=f"ck-{alg}")["Body"].read()) == sha256(data)


def test_wrong_checksum_rejected(s3, bucket):
    wrong = base64.b64encode(hashlib.sha256(b"nope").digest()).decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="ck-wrong", Body=b"data", ChecksumSHA256=wrong)
    assert error_code(e) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="ck-wrong")


def test_conditional_get_and_head(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(e) == 304
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert status(e) == 304
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert status(e) == 412
    s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=future)


def test_if_none_match_on_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert status(e) == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


@pytest.mark.parametrize("size", [1000, 3 * (1 << 20) + 11])
def test_ranges(s3, bucket, size):
    data = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    cases = {
        "bytes=0-9": data[0:10],
        "bytes=10-": data[10:],
        "bytes=-5": data[-5:],
        f"bytes=5-{size + 100}": data[5:],
        f"bytes={size - 1}-{size - 1}": data[-1:],
    }
    if size > (1 << 20):
        b = 1 << 20
        cases[f"bytes={b - 3}-{2 * b + 3}"] = data[b - 3 : 2 * b + 4]
    for rng, want in cases.items():
        r = s3.get_object(Bucket=bucket, Key="r", Range=rng)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert r["Body"].read() == want, rng
        assert r["ContentRange"].endswith(f"/{size}")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={size}-")
    assert status(e) == 416 and error_code(e) == "InvalidRange"


def test_missing_objects_and_buckets(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert error_code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-here", Key="x")
    assert error_code(e) == "NoSuchBucket"


def test_overwrite_frees_old_data(server, s3, bucket):
    import time
    big = os.urandom(2 << 20)
    before_put = data_dirs(server)
    s3.put_object(Bucket=bucket, Key="ow", Body=big)
    (old,) = data_dirs(server) - before_put
    s3.put_object(Bucket=bucket, Key="ow", Body=os.urandom(3 << 20))
    for _ in range(100):
        if old not in data_dirs(server):
            break
        time.sleep(0.1)
    assert old not in data_dirs(server), "the replaced version's data dir is removed (after the free delay)"
    s3.put_object(Bucket=bucket, Key="ow", Body=b"small now")
    assert s3.get_object(Bucket=bucket, Key="ow")["Body"].read() == b"small now"


def test_empty_put_then_put_on_the_same_connection(s3, bucket):
    # boto3 sends `Expect: 100-continue` even for an empty body; the server answers without
    # a 100, and botocore misreads the next response on that connection unless it closes.
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"empty-{i}", Body=b"")
        r = s3.put_object(Bucket=bucket, Key=f"after-{i}", Body=b"x" * 100)
        assert r["ETag"] == '"' + hashlib.md5(b"x" * 100).hexdigest() + '"'
    assert s3.get_object(Bucket=bucket, Key="empty-0")["ContentLength"] == 0
