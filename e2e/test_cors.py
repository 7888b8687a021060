"""CORS through the real binary: Put/Get/DeleteBucketCors with AWS's validation (boto3 and
aws-cli), preflights answered from the rules (origins and headers with wildcards, methods,
max age, expose headers; 403 AccessForbidden when no rule allows, or the bucket has none),
CORS headers on actual responses, and a real headless Chromium on another origin uploading
with fetch() through a presigned URL and reading the object back, while a page from an
origin no rule allows is refused by the browser itself."""

import functools
import http.server
import json
import shutil
import subprocess
import tempfile
import threading

import botocore.exceptions
import pytest
import requests

from conftest import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


def preflight(s, path, origin, method, headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return requests.options(s.endpoint + path, headers=h, timeout=30)


def test_cors_configuration_and_preflights(srv):
    s3 = srv.client()
    s3.create_bucket(Bucket="web")
    s3.put_object(Bucket="web", Key="a.txt", Body=b"hi")
    assert code(s3.get_bucket_cors, Bucket="web") == "NoSuchCORSConfiguration"
    r = preflight(srv, "/web/a.txt", "http://app.example", "GET")
    assert r.status_code == 403 and b"<Code>AccessForbidden</Code>" in r.content
    bad = lambda rule: code(s3.put_bucket_cors, Bucket="web", CORSConfiguration={"CORSRules": [rule]})
    assert bad({"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}) == "InvalidRequest"
    assert bad({"AllowedOrigins": ["http://*.*.example"], "AllowedMethods": ["GET"]}) == "InvalidRequest"
    assert bad({"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["*"]}) == "InvalidRequest"
    assert code(s3.get_bucket_cors, Bucket="web") == "NoSuchCORSConfiguration", "refused rules change nothing"
    rules = [
        {"ID": "app", "AllowedOrigins": ["http://*.example.com"], "AllowedMethods": ["PUT", "GET"],
         "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]
    s3.put_bucket_cors(Bucket="web", CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket="web")["CORSRules"] == rules
    out = json.loads(srv.aws("s3api", "get-bucket-cors", "--bucket", "web").stdout)
    assert out["CORSRules"][0]["ID"] == "app"
    # A PUT from a subdomain with allowed headers.
    r = preflight(srv, "/web/up.txt", "http://www.example.com", "PUT", "Content-Type, X-Amz-Date")
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "http://www.example.com"
    assert r.headers["Access-Control-Allow-Methods"] == "PUT, GET"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    # A header no rule allows, a method no rule allows, an origin only the GET rule allows.
    assert preflight(srv, "/web/up.txt", "http://www.example.com", "PUT", "authorization-x").status_code == 403
    assert preflight(srv, "/web/up.txt", "http://www.example.com", "DELETE").status_code == 403
    assert preflight(srv, "/web/a.txt", "http://other.org", "PUT").status_code == 403
    r = preflight(srv, "/web/a.txt", "http://other.org", "GET")
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    # Malformed preflights.
    assert requests.options(srv.endpoint + "/web/a.txt", timeout=30,
                            headers={"Access-Control-Request-Method": "GET"}).status_code == 400
    assert preflight(srv, "/web/a.txt", "http://other.org", "TRACE").status_code == 400
    # Actual responses carry the headers of the rule that allows them (errors too).
    h = {"Origin": "http://www.example.com"}
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "web", "Key": "a.txt"})
    r = requests.get(url, headers=h, timeout=30)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "http://www.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    r = requests.get(srv.endpoint + "/web/a.txt", headers=h, timeout=30)
    assert r.status_code == 403 and r.headers["Access-Control-Allow-Origin"] == "http://www.example.com"
    r = requests.get(url, headers={"Origin": "http://nobody.org"}, timeout=30)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = requests.get(url, timeout=30)
    assert "Access-Control-Allow-Origin" not in r.headers, "no Origin, no CORS headers"
    s3.delete_bucket_cors(Bucket="web")
    assert code(s3.get_bucket_cors, Bucket="web") == "NoSuchCORSConfiguration"
    assert preflight(srv, "/web/a.txt", "http://other.org", "GET").status_code == 403


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def serve_dir(path):
    """A static page server on a free port (its own origin); returns (server, origin)."""
    h = functools.partial(_Quiet, directory=path)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
(async () => {
  const out = document.getElementById('out');
  try {
    const put = await fetch(%(put)s, {method: 'PUT', body: 'hello from a browser',
                                       headers: {'Content-Type': 'text/plain'}});
    const etag = put.headers.get('ETag');
    const get = await fetch(%(get)s);
    out.textContent = JSON.stringify({put: put.status, etag: etag, get: get.status, body: await get.text()});
  } catch (e) {
    out.textContent = JSON.stringify({error: String(e)});
  }
})();
</script></body></html>"""


def run_page(url, profile):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    start = out.index('<pre id="out">') + len('<pre id="out">')
    return json.loads(out[start:out.index("</pre>", start)].replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
def test_browser_uploads_with_fetch_across_origins(srv, tmp_path):
    s3 = srv.client()
    s3.create_bucket(Bucket="upload")
    pages = tmp_path / "pages"
    pages.mkdir()
    allowed, allowed_origin = serve_dir(str(pages))
    other, _ = serve_dir(str(pages))
    try:
        s3.put_bucket_cors(Bucket="upload", CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": [allowed_origin], "AllowedMethods": ["PUT", "GET"],
             "AllowedHeaders": ["content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 0}]})
        for name, key in [("ok.html", "from-browser.txt"), ("refused.html", "refused.txt")]:
            put = s3.generate_presigned_url("put_object", Params={"Bucket": "upload", "Key": key,
                                                                  "ContentType": "text/plain"})
            get = s3.generate_presigned_url("get_object", Params={"Bucket": "upload", "Key": key})
            (pages / name).write_text(PAGE % {"put": json.dumps(put), "get": json.dumps(get)})
        with tempfile.TemporaryDirectory() as profile:
            res = run_page(allowed_origin + "/ok.html", profile)
        obj = s3.get_object(Bucket="upload", Key="from-browser.txt")
        assert res == {"put": 200, "etag": obj["ETag"], "get": 200, "body": "hello from a browser"}, res
        assert obj["Body"].read() == b"hello from a browser" and obj["ContentType"] == "text/plain"
        # The same page from an origin no rule names: the browser's preflight is refused,
        # so nothing is uploaded.
        with tempfile.TemporaryDirectory() as profile:
            res = run_page(f"http://127.0.0.1:{other.server_address[1]}/refused.html", profile)
        assert "error" in res, res
        assert code(s3.head_object, Bucket="upload", Key="refused.txt") == "404"
    finally:
        allowed.shutdown()
        other.shutdown()
