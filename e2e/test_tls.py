"""HTTPS on the S3 port with a certificate of the tests' own CA (made by openssl, in MinIO's
`--certs-dir` layout): boto3 verifying against the certificate (`verify=`), aws-cli with
`--ca-bundle`, `rustfs-admin` with `--ca-cert`, HTTP/2 negotiated by ALPN, a plain-HTTP
request refused, `aws:SecureTransport` true in policies, and the certificate swapped on disk
and served to new connections without a restart."""

import json
import os
import socket
import ssl
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from conftest import ACCESS, ADMIN_BIN, SECRET, Server


def make_ca(d):
    """A certificate authority (what an operator's own CA, or mkcert, is) to sign the server's."""
    os.makedirs(d, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=e2e test CA", "-keyout", os.path.join(d, "ca.key"),
                    "-out", os.path.join(d, "ca.crt")], check=True, capture_output=True)
    return os.path.join(d, "ca.crt")


def make_cert(d, cn, ca_dir):
    """The server's certificate for 127.0.0.1 signed by the CA, in MinIO's layout."""
    os.makedirs(d, exist_ok=True)
    key, csr = os.path.join(d, "private.key.new"), os.path.join(d, "leaf.csr")
    ext = os.path.join(d, "leaf.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-subj", f"/CN={cn}", "-keyout", key, "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.crt"),
                    "-CAkey", os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-days", "2",
                    "-extfile", ext, "-out", os.path.join(d, "public.crt.new")], check=True, capture_output=True)
    # The pair is replaced file by file, as a renewal tool writes it.
    os.replace(key, os.path.join(d, "private.key"))
    os.replace(os.path.join(d, "public.crt.new"), os.path.join(d, "public.crt"))


def served_cn(port):
    """The CN of the certificate a new connection gets."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s, ctx.wrap_socket(s) as t:
        der = t.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("CN", 1)[1].lstrip(" =")


@pytest.fixture
def tls_server(tmp_path):
    certs = str(tmp_path / "certs")
    ca = make_ca(str(tmp_path / "ca"))
    make_cert(certs, "first", str(tmp_path / "ca"))
    s = Server(extra_args=["--certs-dir", certs])
    s.endpoint = f"https://127.0.0.1:{s.port}"
    s.start(wait=False)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline, s.logs()[-2000:]
            time.sleep(0.2)
    time.sleep(0.5)
    yield s, certs, ca, str(tmp_path / "ca")
    s.cleanup()


def test_https_with_a_self_signed_certificate_and_a_swap_without_restart(tls_server):
    s, certs, ca, ca_dir = tls_server
    c = boto3.client("s3", endpoint_url=s.endpoint, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                     region_name="us-east-1", verify=ca, config=Config(s3={"addressing_style": "path"}))
    c.create_bucket(Bucket="tls")
    c.put_object(Bucket="tls", Key="k", Body=b"over TLS")
    assert c.get_object(Bucket="tls", Key="k")["Body"].read() == b"over TLS"
    # Without trusting the certificate, the client refuses the server.
    bad = boto3.client("s3", endpoint_url=s.endpoint, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                       region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(Exception) as e:
        bad.list_buckets()
    assert "SSL" in repr(e.value) or "certificate" in repr(e.value).lower()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    out = subprocess.run(["aws", "--endpoint-url", s.endpoint, "--ca-bundle", ca, "s3", "ls", "s3://tls"],
                         env=env, capture_output=True, check=True).stdout
    assert b" k" in out
    info = subprocess.run([ADMIN_BIN, "--endpoint", s.endpoint, "--access-key", ACCESS, "--secret-key", SECRET,
                           "--ca-cert", ca, "--json", "info"], capture_output=True, check=True).stdout
    assert json.loads(info)["ready"] is True
    # HTTP/2 by ALPN, HTTP/1.1 still offered.
    for proto in (["h2"], ["http/1.1"]):
        ctx = ssl.create_default_context(cafile=ca)
        ctx.set_alpn_protocols(proto)
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock, \
                ctx.wrap_socket(sock, server_hostname="127.0.0.1") as t:
            assert t.selected_alpn_protocol() == proto[0]
    # Plain HTTP on the TLS port gets no S3 answer.
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        try:
            data = sock.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert b"HTTP/1.1 200" not in data
    # aws:SecureTransport is true: a policy allowing only secure reads lets anonymous in.
    c.put_bucket_policy(Bucket="tls", Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::tls/*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}))
    import requests
    assert requests.get(f"{s.endpoint}/tls/k", verify=ca, timeout=10).content == b"over TLS"
    # A new certificate on disk is served to new connections, without a restart.
    assert served_cn(s.port) == "first"
    time.sleep(1.1)
    make_cert(certs, "second", ca_dir)
    deadline = time.time() + 30
    while served_cn(s.port) != "second":
        assert time.time() < deadline, "the new certificate was not picked up"
        time.sleep(0.5)
    c2 = boto3.client("s3", endpoint_url=s.endpoint, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                      region_name="us-east-1", verify=ca, config=Config(s3={"addressing_style": "path"}))
    assert c2.get_object(Bucket="tls", Key="k")["Body"].read() == b"over TLS"
    assert s.proc.poll() is None, "no restart"
