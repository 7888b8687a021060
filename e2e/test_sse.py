"""Server-side encryption through the real binary with boto3 and aws-cli: SSE-S3 objects
(inline and erasure-coded, single and multipart, with ranges) whose plaintext is in no
file under the data folder, readable after a restart and after a master-key rotation;
SSE-KMS with named keys of the key store; SSE-C round trips with ranges, copies and
multipart, and the refusals of a missing or wrong key; bucket default encryption."""

import base64
import hashlib
import os
import pathlib

import botocore.exceptions
import pytest

from conftest import Server

MARK = b"PLAINTEXT-MARKER-0123456789-"


def code(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def body(n, seed=0):
    """`n` bytes made of a marker and a counter (findable on disk if stored in clear)."""
    out = bytearray()
    i = seed
    while len(out) < n:
        out += MARK + str(i).encode() + b"|"
        i += 1
    return bytes(out[:n])


def key_line(name, raw):
    return f"{name} {base64.b64encode(raw).decode()}\n"


def files_containing(root, needle):
    hits = []
    for p in pathlib.Path(root).rglob("*"):
        if p.is_file():
            try:
                if needle in p.read_bytes():
                    hits.append(str(p))
            except OSError:
                pass
    return hits


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "sse.keys"
    keys.write_text(key_line("main", os.urandom(32)) + key_line("app-key", os.urandom(32)))
    s = Server(extra_args=["--sse-keys-file", str(keys)])
    s.keys_file = keys
    s.start()
    yield s
    s.cleanup()


def ssec(raw, prefix=""):
    return {f"{prefix}SSECustomerAlgorithm": "AES256", f"{prefix}SSECustomerKey": base64.b64encode(raw).decode(),
            f"{prefix}SSECustomerKeyMD5": base64.b64encode(hashlib.md5(raw).digest()).decode()}


def test_sse_s3_never_stores_plaintext_and_survives_restart_and_rotation(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="enc")
    small, big = body(3000, 1), body(3 * 1024 * 1024 + 17, 2)
    r = s3.put_object(Bucket="enc", Key="small", Body=small, ServerSideEncryption="AES256")
    assert r["ServerSideEncryption"] == "AES256" and r["ETag"].strip('"') == hashlib.md5(small).hexdigest()
    s3.put_object(Bucket="enc", Key="big", Body=big, ServerSideEncryption="AES256")
    up = s3.create_multipart_upload(Bucket="enc", Key="mp", ServerSideEncryption="AES256")
    assert up["ServerSideEncryption"] == "AES256"
    parts = [body(5 * 1024 * 1024, 3), body(1024 * 1024 + 3, 4)]
    etags = [s3.upload_part(Bucket="enc", Key="mp", UploadId=up["UploadId"], PartNumber=n + 1, Body=p)["ETag"]
             for n, p in enumerate(parts)]
    done = s3.complete_multipart_upload(Bucket="enc", Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})
    assert done["ServerSideEncryption"] == "AES256"
    whole = b"".join(parts)

    def check_all(s3):
        assert s3.get_object(Bucket="enc", Key="small")["Body"].read() == small
        g = s3.get_object(Bucket="enc", Key="big")
        assert g["ServerSideEncryption"] == "AES256" and g["ContentLength"] == len(big)
        assert g["Body"].read() == big
        assert s3.head_object(Bucket="enc", Key="big")["ContentLength"] == len(big)
        for a, b in [(0, 0), (65535, 65537), (1_000_000, 2_500_000), (len(big) - 5, len(big) - 1)]:
            assert s3.get_object(Bucket="enc", Key="big", Range=f"bytes={a}-{b}")["Body"].read() == big[a:b + 1]
        assert s3.get_object(Bucket="enc", Key="mp")["Body"].read() == whole
        a = 5 * 1024 * 1024 - 100
        assert s3.get_object(Bucket="enc", Key="mp", Range=f"bytes={a}-{a + 300}")["Body"].read() == whole[a:a + 301]
        p2 = s3.get_object(Bucket="enc", Key="mp", PartNumber=2)
        assert p2["ContentLength"] == len(parts[1]) and p2["Body"].read() == parts[1]

    check_all(s3)
    assert s3.list_objects_v2(Bucket="enc")["Contents"][0]["Size"] == len(big)
    # No file under the data folder (shards, xl.meta, the KV) holds the plaintext; the same
    # bytes stored without encryption are found there (the check can fail).
    assert files_containing(srv.data, MARK) == []
    s3.put_object(Bucket="enc", Key="control", Body=body(300_000).replace(MARK, b"CONTROL-MARKER-0123456789-"))
    assert files_containing(srv.data, b"CONTROL-MARKER-0123456789-") != []
    s3.delete_object(Bucket="enc", Key="control")
    srv.stop()
    srv.start()
    check_all(srv.client())
    # Rotation: a new current key first, the old one kept for what it sealed.
    old = srv.keys_file.read_text()
    srv.stop()
    srv.keys_file.write_text(key_line("rotated", os.urandom(32)) + old)
    srv.start()
    s3 = srv.client()
    check_all(s3)
    s3.put_object(Bucket="enc", Key="after", Body=b"new key", ServerSideEncryption="AES256")
    # Without the old key, what it sealed is unreadable (an error, never other bytes); what
    # the new key sealed still reads.
    srv.stop()
    srv.keys_file.write_text(srv.keys_file.read_text().split("\n")[0] + "\n")
    srv.start()
    s3 = srv.client()
    assert s3.get_object(Bucket="enc", Key="after")["Body"].read() == b"new key"
    assert code(s3.get_object, Bucket="enc", Key="small") == "InternalError"
    srv.stop()
    srv.keys_file.write_text(srv.keys_file.read_text() + old)
    srv.start()
    check_all(srv.client())


def test_sse_kms_named_keys(srv, tmp_path):
    s3 = srv.client()
    s3.create_bucket(Bucket="kms")
    r = s3.put_object(Bucket="kms", Key="k", Body=body(100_000), ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="app-key")
    assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == "app-key"
    h = s3.head_object(Bucket="kms", Key="k")
    assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == "app-key"
    assert s3.get_object(Bucket="kms", Key="k")["Body"].read() == body(100_000)
    assert code(s3.put_object, Bucket="kms", Key="x", Body=b"", ServerSideEncryption="aws:kms",
                SSEKMSKeyId="no-such-key") == "KMS.NotFoundException"
    assert code(s3.head_object, Bucket="kms", Key="x") == "404"
    # aws-cli with a KMS key id.
    f = tmp_path / "cli.bin"
    f.write_bytes(b"from aws-cli")
    srv.aws("s3api", "put-object", "--bucket", "kms", "--key", "cli", "--server-side-encryption", "aws:kms",
            "--ssekms-key-id", "app-key", "--body", str(f))
    assert s3.get_object(Bucket="kms", Key="cli")["Body"].read() == b"from aws-cli"
    assert s3.head_object(Bucket="kms", Key="cli")["SSEKMSKeyId"] == "app-key"


def test_sse_c_round_trips_ranges_copies_and_refusals(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="ssec")
    k1, k2 = os.urandom(32), os.urandom(32)
    data = body(700_000, 9)
    r = s3.put_object(Bucket="ssec", Key="c", Body=data, **ssec(k1))
    assert r["SSECustomerAlgorithm"] == "AES256" and r["SSECustomerKeyMD5"] == ssec(k1)["SSECustomerKeyMD5"]
    assert s3.get_object(Bucket="ssec", Key="c", **ssec(k1))["Body"].read() == data
    assert s3.get_object(Bucket="ssec", Key="c", Range="bytes=65530-131080", **ssec(k1))["Body"].read() \
        == data[65530:131081]
    assert s3.head_object(Bucket="ssec", Key="c", **ssec(k1))["ContentLength"] == len(data)
    # Without the key, with another key, with a key whose MD5 is wrong.
    assert code(s3.get_object, Bucket="ssec", Key="c") == "InvalidRequest"
    assert code(s3.get_object, Bucket="ssec", Key="c", **ssec(k2)) == "AccessDenied"
    assert code(s3.head_object, Bucket="ssec", Key="c", **ssec(k2)) == "403"
    bad = dict(ssec(k1), SSECustomerKeyMD5=ssec(k2)["SSECustomerKeyMD5"])
    assert code(s3.put_object, Bucket="ssec", Key="d", Body=b"x", **bad) == "InvalidArgument"
    assert code(s3.put_object, Bucket="ssec", Key="d", Body=b"x", SSECustomerAlgorithm="AES128",
                SSECustomerKey=ssec(k1)["SSECustomerKey"], SSECustomerKeyMD5=ssec(k1)["SSECustomerKeyMD5"]) \
        == "InvalidEncryptionAlgorithmError"
    # Copies: SSE-C to SSE-C under another key, and to SSE-S3.
    s3.copy_object(Bucket="ssec", Key="c2", CopySource={"Bucket": "ssec", "Key": "c"},
                   **ssec(k1, "CopySource"), **ssec(k2))
    assert s3.get_object(Bucket="ssec", Key="c2", **ssec(k2))["Body"].read() == data
    assert code(s3.get_object, Bucket="ssec", Key="c2", **ssec(k1)) == "AccessDenied"
    assert code(s3.copy_object, Bucket="ssec", Key="c3", CopySource={"Bucket": "ssec", "Key": "c"}) \
        == "InvalidRequest"
    s3.copy_object(Bucket="ssec", Key="c3", CopySource={"Bucket": "ssec", "Key": "c"}, ServerSideEncryption="AES256",
                   **ssec(k1, "CopySource"))
    assert s3.get_object(Bucket="ssec", Key="c3")["Body"].read() == data
    # Multipart with SSE-C: every part needs the key.
    up = s3.create_multipart_upload(Bucket="ssec", Key="m", **ssec(k1))["UploadId"]
    p1 = body(5 * 1024 * 1024, 5)
    assert code(s3.upload_part, Bucket="ssec", Key="m", UploadId=up, PartNumber=1, Body=p1) == "InvalidRequest"
    assert code(s3.upload_part, Bucket="ssec", Key="m", UploadId=up, PartNumber=1, Body=p1, **ssec(k2)) \
        == "AccessDenied"
    e1 = s3.upload_part(Bucket="ssec", Key="m", UploadId=up, PartNumber=1, Body=p1, **ssec(k1))["ETag"]
    e2 = s3.upload_part_copy(Bucket="ssec", Key="m", UploadId=up, PartNumber=2,
                             CopySource={"Bucket": "ssec", "Key": "c"}, CopySourceRange="bytes=0-99999",
                             **ssec(k1, "CopySource"), **ssec(k1))["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(Bucket="ssec", Key="m", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    whole = p1 + data[:100_000]
    assert s3.get_object(Bucket="ssec", Key="m", **ssec(k1))["Body"].read() == whole
    a = len(p1) - 10
    assert s3.get_object(Bucket="ssec", Key="m", Range=f"bytes={a}-{a + 19}", **ssec(k1))["Body"].read() \
        == whole[a:a + 20]
    assert files_containing(srv.data, MARK) == []


def test_bucket_default_encryption(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="defenc")
    assert code(s3.get_bucket_encryption, Bucket="defenc") == "ServerSideEncryptionConfigurationNotFoundError"
    s3.put_object(Bucket="defenc", Key="before", Body=b"clear")
    assert "ServerSideEncryption" not in s3.head_object(Bucket="defenc", Key="before")
    s3.put_bucket_encryption(Bucket="defenc", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "app-key"}}]})
    got = s3.get_bucket_encryption(Bucket="defenc")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert got["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "app-key"}
    r = s3.put_object(Bucket="defenc", Key="after", Body=b"secret")
    assert r["ServerSideEncryption"] == "aws:kms" and r["SSEKMSKeyId"] == "app-key"
    assert s3.get_object(Bucket="defenc", Key="after")["Body"].read() == b"secret"
    assert code(s3.put_bucket_encryption, Bucket="defenc", ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "nope"}}]}) \
        == "KMS.NotFoundException"
    srv.aws("s3api", "put-bucket-encryption", "--bucket", "defenc", "--server-side-encryption-configuration",
            '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}')
    assert s3.put_object(Bucket="defenc", Key="s3", Body=b"x")["ServerSideEncryption"] == "AES256"
    s3.delete_bucket_encryption(Bucket="defenc")
    assert "ServerSideEncryption" not in s3.put_object(Bucket="defenc", Key="plain", Body=b"x")
