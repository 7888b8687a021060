"""Virtual-hosted-style requests (`bucket.DOMAIN`) with `--domain`, next to path style."""

from conftest import Server
from rawhttp import request


def test_virtual_host_and_path_style():
    srv = Server(extra_args=["--domain", "localhost"]).start()
    try:
        s3 = srv.client()
        s3.create_bucket(Bucket="vh-bucket")
        vh = f"http://vh-bucket.localhost:{srv.port}"
        st, _, _ = request(vh, "PUT", "/dir/key.txt", b"virtual host body", connect=srv.endpoint)
        assert st == 200
        st, _, body = request(vh, "GET", "/dir/key.txt", connect=srv.endpoint)
        assert (st, body) == (200, b"virtual host body")
        st, _, body = request(vh, "GET", "/?list-type=2", connect=srv.endpoint)
        assert st == 200 and b"<Key>dir/key.txt</Key>" in body
        # Path style keeps working on the same server.
        assert s3.get_object(Bucket="vh-bucket", Key="dir/key.txt")["Body"].read() == b"virtual host body"
    finally:
        srv.cleanup()
