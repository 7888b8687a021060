"""Listing: v1 and v2 with prefix, delimiter, marker, continuation token, start-after,
max-keys, encoding-type=url and fetch-owner; paging never loses or repeats a key."""

import urllib.parse

import pytest

KEYS = sorted(
    [f"a/{i:03d}" for i in range(30)]
    + [f"b/x/{i}" for i in range(5)]
    + ["b/y", "c", "d e+f", "dir/", "dir/sub/1", "z%25", "ümlaut/é"]
)


@pytest.fixture(scope="module")
def listed(s3):
    s3.create_bucket(Bucket="listing-bucket")
    for k in KEYS:
        s3.put_object(Bucket="listing-bucket", Key=k, Body=k.encode())
    return "listing-bucket"


def page_all_v2(s3, bucket, **kw):
    keys, prefixes, token = [], [], None
    while True:
        args = dict(kw)
        if token:
            args["ContinuationToken"] = token
        r = s3.list_objects_v2(Bucket=bucket, **args)
        keys += [o["Key"] for o in r.get("Contents", [])]
        prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        assert r["KeyCount"] == len(r.get("Contents", [])) + len(r.get("CommonPrefixes", []))
        if not r["IsTruncated"]:
            return keys, prefixes
        token = r["NextContinuationToken"]


def test_flat_listing_pages(s3, listed):
    for mk in (1, 7, 1000):
        keys, prefixes = page_all_v2(s3, listed, MaxKeys=mk)
        assert keys == KEYS and prefixes == []


def test_delimiter_listing(s3, listed):
    keys, prefixes = page_all_v2(s3, listed, Delimiter="/")
    assert keys == ["c", "d e+f", "z%25"]
    assert prefixes == ["a/", "b/", "dir/", "ümlaut/"]
    for mk in (1, 2, 3):
        k2, p2 = page_all_v2(s3, listed, Delimiter="/", MaxKeys=mk)
        assert (k2, p2) == (keys, prefixes)
    keys, prefixes = page_all_v2(s3, listed, Prefix="b/", Delimiter="/")
    assert keys == ["b/y"] and prefixes == ["b/x/"]


def test_start_after_and_prefix(s3, listed):
    r = s3.list_objects_v2(Bucket=listed, Prefix="a/", StartAfter="a/025")
    assert [o["Key"] for o in r["Contents"]] == [f"a/{i:03d}" for i in range(26, 30)]
    r = s3.list_objects_v2(Bucket=listed, Prefix="nothing/")
    assert r["KeyCount"] == 0 and "Contents" not in r


def test_v1_markers(s3, listed):
    keys, marker = [], ""
    while True:
        r = s3.list_objects(Bucket=listed, Marker=marker, MaxKeys=4)
        page = [o["Key"] for o in r.get("Contents", [])]
        keys += page
        if not r["IsTruncated"]:
            break
        marker = r.get("NextMarker") or page[-1]
    assert keys == KEYS
    r = s3.list_objects(Bucket=listed, Delimiter="/", MaxKeys=100)
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/", "dir/", "ümlaut/"]
    assert r["Contents"][0]["Owner"]["ID"]


def test_encoding_type_url(s3, listed):
    # Asked for explicitly, botocore hands the encoded keys through.
    r = s3.list_objects_v2(Bucket=listed, EncodingType="url", Prefix="d")
    assert [urllib.parse.unquote_plus(o["Key"]) for o in r["Contents"]] == ["d e+f", "dir/", "dir/sub/1"]
    assert r["Contents"][0]["Key"] == "d%20e%2Bf"
    events = []
    s3.meta.events.register("after-call.s3.ListObjectsV2", lambda http_response, **kw: events.append(http_response.text))
    s3.list_objects_v2(Bucket=listed, EncodingType="url", Prefix="z")
    assert "<Key>z%2525</Key>" in events[-1]
    s3.meta.events.unregister("after-call.s3.ListObjectsV2")


def test_fetch_owner(s3, listed):
    r = s3.list_objects_v2(Bucket=listed, MaxKeys=1)
    assert "Owner" not in r["Contents"][0]
    r = s3.list_objects_v2(Bucket=listed, MaxKeys=1, FetchOwner=True)
    assert r["Contents"][0]["Owner"]["ID"]


def test_bad_continuation_token(s3, listed):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=listed, ContinuationToken="!!!")
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
