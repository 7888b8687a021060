"""Hand-built HTTP requests for bad-input tests: signed with botocore's SigV4 signer and
sent over a plain socket, so a test controls every header and byte of the body."""

import http.client
import socket
import urllib.parse

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ACCESS, SECRET


class _KeepPayloadHash(S3SigV4Auth):
    """Signs with the X-Amz-Content-SHA256 the caller set (streaming modes), if any."""

    def __init__(self, payload_hash, *a):
        super().__init__(*a)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash or super().payload(request)


def signed_headers(endpoint, method, path, body=b"", headers=None, access=ACCESS, secret=SECRET):
    headers = dict(headers or {})
    payload_hash = next((v for k, v in headers.items() if k.lower() == "x-amz-content-sha256"), None)
    req = AWSRequest(method=method, url=endpoint + path, data=body, headers=headers)
    _KeepPayloadHash(payload_hash, Credentials(access, secret), "s3", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def request(endpoint, method, path, body=b"", headers=None, sign=True, connect=None, **kw):
    """Sends one request; returns (status, headers, body bytes). `connect` overrides the
    address connected to (for virtual-host names that do not resolve)."""
    headers = dict(headers or {})
    headers.setdefault("Host", urllib.parse.urlparse(endpoint).netloc)
    h = signed_headers(endpoint, method, path, body, headers, **kw) if sign else headers
    u = urllib.parse.urlparse(connect or endpoint)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in h.items():
        c.putheader(k, v)
    if body and not any(k.lower() == "content-length" for k in h):
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def send_raw(endpoint, raw: bytes, read=True):
    """Writes raw bytes, half-closes, and returns what the server answered."""
    u = urllib.parse.urlparse(endpoint)
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    s.sendall(raw)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while read:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def error_code_of(body: bytes):
    import re
    m = re.search(rb"<Code>([^<]+)</Code>", body)
    return m.group(1).decode() if m else None
