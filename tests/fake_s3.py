"""A minimal S3 endpoint on 127.0.0.1 over TLS, for running the runbook's rclone commands as written
(tests/test_runbook_redis.py): path-style ListObjectsV2, HEAD, GET and single-part PUT of objects, which is
all `rclone lsf`, `rclone copyto` and `rclone lsjson` ask of an S3 backend with provider Other. It records
every request's method, path and Authorization header (the SigV4 credential scope names the region the
client signed for). Signatures are not checked: what is under test is what the client sends, not B2.
"""

from __future__ import annotations

import hashlib
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape


@dataclass
class Bucket:
    objects: dict[str, tuple[bytes, datetime]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, Authorization header)."""


def _listing(bucket: str, prefix: str, objects: dict[str, tuple[bytes, datetime]]) -> bytes:
    contents = "".join(
        f"<Contents><Key>{escape(key)}</Key><LastModified>{when:%Y-%m-%dT%H:%M:%S.000Z}</LastModified>"
        f'<ETag>"{hashlib.md5(body).hexdigest()}"</ETag><Size>{len(body)}</Size>'
        "<StorageClass>STANDARD</StorageClass></Contents>"
        for key, (body, when) in sorted(objects.items())
        if key.startswith(prefix) and "/" not in key[len(prefix) :]
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix><IsTruncated>false</IsTruncated>"
        f"{contents}</ListBucketResult>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    store: dict[str, Bucket]
    """The buckets by name (set on the subclass each server gets)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _target(self) -> tuple[Bucket, str, str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        name, _, key = unquote(url.path).lstrip("/").partition("/")
        bucket = self.store.setdefault(name, Bucket())
        bucket.requests.append((self.command, url.path, self.headers.get("Authorization", "")))
        return bucket, name, key, parse_qs(url.query)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _object(self) -> None:
        bucket, name, key, query = self._target()
        if not key:
            self._send(200, _listing(name, query.get("prefix", [""])[0], bucket.objects))
            return
        if key not in bucket.objects:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
            return
        body, when = bucket.objects[key]
        headers = {"ETag": f'"{hashlib.md5(body).hexdigest()}"', "Last-Modified": format_datetime(when, True)}
        self._send(200, body, headers | {"Content-Type": "application/octet-stream"})

    def do_GET(self) -> None:
        self._object()

    def do_HEAD(self) -> None:
        self._object()

    def do_PUT(self) -> None:
        bucket, _, key, _ = self._target()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        bucket.objects[key] = (body, datetime.now(UTC))
        self._send(200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})


@contextmanager
def fake_s3(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, Bucket]]]:
    """(host:port, the CA file a client must trust, the buckets by name) of an S3 endpoint serving TLS."""
    key, cert = tmp_path / "s3.key", tmp_path / "s3.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    store: dict[str, Bucket] = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"store": store}))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", cert, store
    finally:
        server.shutdown()
        server.server_close()
