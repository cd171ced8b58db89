"""Downloading over real HTTP on 127.0.0.1: verified, atomic, retried, and clear when it fails."""

import hashlib
import http.server
import threading

import pytest

from onelayer.download import fetch, md5sum, verify_md5
from onelayer.errors import ChecksumError, DownloadError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Server:
    """A real HTTP server whose behaviour per request the test sets: ok, truncate, or 404."""

    def __init__(self):
        self.plan = []  # one mode per request; the last repeats
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                mode = outer.plan[min(outer.requests, len(outer.plan) - 1)]
                outer.requests += 1
                if mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                body = PAYLOAD if mode == "ok" else PAYLOAD[: len(PAYLOAD) // 3]
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cifar-10-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_fetch_verifies_and_writes(server, tmp_path):
    server.plan = ["ok"]
    dest = tmp_path / "raw" / "a.tar.gz"
    fetch(server.url, dest, PAYLOAD_MD5, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left beside it


def test_wrong_checksum_names_both_and_leaves_nothing(server, tmp_path):
    server.plan = ["ok"]
    dest = tmp_path / "a.tar.gz"
    with pytest.raises(ChecksumError, match=f"expected {'0' * 32}, got {PAYLOAD_MD5}"):
        fetch(server.url, dest, "0" * 32, backoff=0)
    assert list(tmp_path.iterdir()) == []
    assert server.requests == 1  # a mismatch is not retried


def test_truncated_transfer_is_retried(server, tmp_path):
    server.plan = ["truncate", "ok"]
    dest = tmp_path / "a.tar.gz"
    fetch(server.url, dest, PAYLOAD_MD5, backoff=0)
    assert server.requests == 2 and md5sum(dest) == PAYLOAD_MD5


def test_persistent_truncation_fails_cleanly(server, tmp_path):
    server.plan = ["truncate"]
    with pytest.raises(DownloadError, match="after 3 attempt"):
        fetch(server.url, tmp_path / "a.tar.gz", PAYLOAD_MD5, retries=3, backoff=0)
    assert server.requests == 3
    assert list(tmp_path.iterdir()) == []


def test_404_is_not_retried(server, tmp_path):
    server.plan = ["404"]
    with pytest.raises(DownloadError, match="404"):
        fetch(server.url, tmp_path / "a.tar.gz", PAYLOAD_MD5, backoff=0)
    assert server.requests == 1


def test_file_url_mirror(tmp_path):
    src = tmp_path / "mirror" / "a.tar.gz"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "raw" / "a.tar.gz"
    fetch(src.as_uri(), dest, PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD


def test_verify_md5_of_a_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(PAYLOAD)
    verify_md5(path, PAYLOAD_MD5.upper())
    with pytest.raises(ChecksumError, match=str(path)):
        verify_md5(path, "f" * 32)
