"""tools/smoke.py against a local HTTP fixture standing in for Cloudflare and the origins, and a fake
kubectl standing in for the cluster. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import smoke
from tools.ops import Site

SITE = Site("honeydue.app", "api.honeydue.app", "admin.honeydue.app")
NODES = ["honeydue-1", "honeydue-2", "honeydue-3"]
HEALTHY = {
    ("honeydue.app", "/healthz"): 200,
    ("www.honeydue.app", "/healthz"): 200,
    ("api.honeydue.app", "/healthz"): 200,
    ("honeydue.app", "/"): 200,
    ("api.honeydue.app", "/readyz"): 200,
    ("admin.honeydue.app", "/"): 200,
}


class Origin(ThreadingHTTPServer):
    routes: dict[tuple[str, str], int]
    seen: list[tuple[str, str]]


class Handler(BaseHTTPRequestHandler):
    server: Origin

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        self.server.seen.append((host, self.path))
        self.send_response(self.server.routes.get((host, self.path), 404))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin(("127.0.0.1", 0), Handler)
    server.routes, server.seen = dict(HEALTHY), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def node(name: str, ready: bool = True, etcd: bool = True) -> dict[str, Any]:
    labels = {"node-role.kubernetes.io/etcd": "true"} if etcd else {}
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    return {"metadata": {"name": name, "labels": labels}, "status": {"conditions": [condition]}}


FAKE_KUBECTL = """#!{python}
import json, sys, time
canned = json.load(open({canned!r}))
args = [a for a in sys.argv[1:] if not a.startswith("--request-timeout")]
args = args[2:] if args[:1] == ["--kubeconfig"] else args
if "port-forward" in args:
    print("Forwarding from 127.0.0.1:%d -> 80" % canned["forward_port"], flush=True)
    time.sleep(60)
elif args[:2] == ["get", "nodes"]:
    print(json.dumps({{"items": canned["nodes"]}}))
elif args[:3] == ["get", "--raw", "/readyz/etcd"]:
    print(canned["etcd"])
    sys.exit(0 if canned["etcd"] == "ok" else 1)
elif "pods" in args:
    print(json.dumps({{"items": canned["pods"]}}))
else:
    sys.exit("unexpected kubectl " + " ".join(args))
"""


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake kubectl on PATH answering from `canned` (edit it in a test before running the check)."""
    canned: dict[str, Any] = {
        "nodes": [node(n) for n in NODES],
        "etcd": "ok",
        "pods": [
            {"metadata": {"name": f"traefik-{n}"}, "spec": {"nodeName": n}, "status": {"phase": "Running"}}
            for n in NODES
        ],
        "forward_port": 0,
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable, canned=str(tmp_path / "canned.json")))
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    outputs = {"nodes": {n: {} for n in NODES}, "agents": {}, "kubeconfig": "apiVersion: v1\nkind: Config\n"}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    monkeypatch.setattr(smoke, "load_site", lambda stack: SITE)
    canned["_dir"] = tmp_path
    return canned


def run_smoke(cluster: dict[str, Any], origin: Origin, *extra: str) -> int:
    directory: Path = cluster["_dir"]
    cluster["forward_port"] = origin.server_address[1]
    (directory / "canned.json").write_text(json.dumps({k: v for k, v in cluster.items() if k != "_dir"}))
    address = f"127.0.0.1:{origin.server_address[1]}"
    base = ["--outputs", str(directory / "outputs.json"), "--edge-resolve", address, "--edge-scheme", "http"]
    return smoke.main([*base, "--attempts", "1", "--timeout", "2", *extra])


def test_probes_cover_every_public_name_and_the_probe_paths() -> None:
    found = {(p.host, p.path) for p in smoke.probes(SITE)}
    assert found == set(HEALTHY)  # api: /healthz (liveness/startup) and /readyz; admin: / (its probe path)


def test_a_healthy_stack_passes(cluster: dict[str, Any], origin: Origin, capsys: pytest.CaptureFixture[str]) -> None:
    origins = [f"--origin={n}=127.0.0.1:{origin.server_address[1]}" for n in NODES]
    assert run_smoke(cluster, origin, *origins) == 0
    out = capsys.readouterr().out
    assert "smoke: all" in out and "FAIL" not in out
    # Edge and each of three origins got every probe, with the public name in the Host header.
    assert sorted(origin.seen) == sorted(list(HEALTHY) * 4)


def test_origins_are_reached_through_port_forward_by_default(
    cluster: dict[str, Any], origin: Origin, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_smoke(cluster, origin) == 0
    out = capsys.readouterr().out
    assert all(f"origin {n} admin.honeydue.app/: 200" in out for n in NODES)


def test_a_failing_health_endpoint_fails_with_the_name_and_the_status(
    cluster: dict[str, Any], origin: Origin, capsys: pytest.CaptureFixture[str]
) -> None:
    origin.routes[("api.honeydue.app", "/readyz")] = 503
    assert run_smoke(cluster, origin, f"--origin=honeydue-1=127.0.0.1:{origin.server_address[1]}") == 1
    err = capsys.readouterr().err
    assert "edge api.honeydue.app/readyz: expected 200, got 503" in err
    assert "origin honeydue-1 api.honeydue.app/readyz: expected 200, got 503" in err


def test_a_node_without_traefik_fails(
    cluster: dict[str, Any], origin: Origin, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster["pods"] = cluster["pods"][:2]
    assert run_smoke(cluster, origin) == 1
    assert "origin honeydue-3: no running Traefik pod on the node" in capsys.readouterr().err


def test_a_not_ready_node_and_unhealthy_etcd_fail(
    cluster: dict[str, Any], origin: Origin, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster["nodes"] = [node("honeydue-1"), node("honeydue-2", ready=False)]
    cluster["etcd"] = "[-]etcd failed: reason withheld"
    assert run_smoke(cluster, origin, f"--origin=honeydue-1=127.0.0.1:{origin.server_address[1]}") == 1
    err = capsys.readouterr().err
    assert "node honeydue-2: not Ready" in err and "node honeydue-3: missing" in err
    assert "etcd members: 1 of 2 etcd nodes Ready" in err
    assert "etcd health (/readyz/etcd)" in err


def test_an_origin_that_never_answers_fails_within_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never answers
        target = smoke.Target("origin x", "http", silent.getsockname())
        started = time.monotonic()
        result = smoke.check_http(target, smoke.Probe("api.honeydue.app", "/healthz", 200), 0.5, 2, 0.1)
    assert not result.ok and "no answer" in result.detail and "2 attempt(s)" in result.detail
    assert time.monotonic() - started < 5


def test_cannot_run_without_outputs_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--outputs", str(tmp_path / "missing.json")]) == 2
    assert "cannot run the checks" in capsys.readouterr().err
