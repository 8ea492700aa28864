"""scripts/edge/wait-serving.sh, the step a server's proxied DNS records wait for, run for real: curl against a
local HTTP server standing in for the node's Traefik on port 80 (SERVING_URL points it there)."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from components.edge.serving import SCRIPT, serving_script
from tests.validators import require_tool

APEX = "honeydue.app"


class _Traefik(http.server.BaseHTTPRequestHandler):
    """Answers like a node's Traefik: `statuses` in turn for the apex (the last one repeats), 404 for any other
    Host (Traefik's answer for a Host no router matches)."""

    statuses: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        if self.headers["Host"] != APEX:
            status = 404
        else:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def traefik() -> Iterator[Callable[[list[int]], str]]:
    servers: list[http.server.HTTPServer] = []

    def start(statuses: list[int]) -> str:
        handler = type("Handler", (_Traefik,), {"statuses": list(statuses)})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _run(url: str, host: str = APEX, timeout: int = 1) -> subprocess.CompletedProcess[str]:
    require_tool("curl")
    return subprocess.run(
        ["bash", "-c", serving_script(host, timeout=timeout, poll=0.2)],
        env={"PATH": "/usr/bin:/bin", "SERVING_URL": url},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_passes_once_the_landing_page_answers(traefik: Callable[[list[int]], str]) -> None:
    # Traefik up without its routes yet (404), then no Ready backend (503), then the page.
    run = _run(traefik([404, 503, 200]), timeout=20)
    assert run.returncode == 0, run.stderr
    assert f"{APEX} answers 200" in run.stdout


def test_a_redirect_is_not_serving(traefik: Callable[[list[int]], str]) -> None:
    # As for the load balancer's monitor (2xx, redirects not followed): only the landing page itself counts.
    run = _run(traefik([308]))
    assert run.returncode == 1 and "answered 308" in run.stderr


def test_fails_at_the_deadline_naming_the_last_answer(traefik: Callable[[list[int]], str]) -> None:
    run = _run(traefik([503]))
    assert run.returncode == 1
    assert f"does not serve {APEX} after 1s" in run.stderr and "answered 503" in run.stderr


def test_another_host_s_answer_is_not_serving(traefik: Callable[[list[int]], str]) -> None:
    # The fixture serves only the apex: asking for another name gets Traefik's 404 until the deadline.
    run = _run(traefik([200]), host=f"www.{APEX}")
    assert run.returncode == 1 and "answered 404" in run.stderr


def test_fails_when_nothing_listens(traefik: Callable[[list[int]], str]) -> None:
    url = traefik([200])
    port = int(url.rsplit(":", 1)[1].rstrip("/"))
    run = _run(f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/")
    assert run.returncode == 1 and "nothing answered" in run.stderr


def test_the_host_is_quoted_into_the_script() -> None:
    text = serving_script("a'b; rm -rf /")
    assert text.startswith("SERVING_HOST='a'\"'\"'b; rm -rf /'\n")
    assert text.endswith(SCRIPT.read_text())


def test_passes_shellcheck() -> None:
    run = subprocess.run(
        [require_tool("shellcheck"), "-s", "bash", str(SCRIPT)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout
    assert Path(SCRIPT).stat().st_mode & 0o111
