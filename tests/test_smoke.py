"""tools/smoke.py against a local HTTP fixture standing in for Cloudflare and the origins (and an HTTPS one,
with certificates `openssl` makes, for the origins' 443), and a fake kubectl standing in for the cluster.
Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import smoke, smoke_http, state_secrets
from tools.ops import PROJECT_DIR, OpsError, Site, load_outputs

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


RAY = "8f1e2d3c4b5a6978-FRA"


class Origin(ThreadingHTTPServer):
    routes: dict[tuple[str, str], int]
    seen: list[tuple[str, str]]
    cf_ray: str | None
    """Sent with every answer unless None (the fixture stands in for Cloudflare too)."""
    server_names: list[str | None]
    """SNI of each TLS handshake (HTTPS fixture only)."""


class Handler(BaseHTTPRequestHandler):
    server: Origin

    def do_GET(self) -> None:
        host = self.headers.get("Host", "")
        self.server.seen.append((host, self.path))
        self.send_response(self.server.routes.get((host, self.path), 404))
        if self.server.cf_ray:
            self.send_header("CF-RAY", self.server.cf_ray)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def serving(certificate: tuple[Path, Path] | None = None, client_ca: Path | None = None) -> Iterator[Origin]:
    """An Origin on 127.0.0.1 (HTTPS with `certificate`, a cert and key file; with `client_ca`, every client must
    present a certificate it signed, as Traefik in phase 2 of Authenticated Origin Pulls), while the context lasts."""
    server = Origin(("127.0.0.1", 0), Handler)
    server.routes, server.seen, server.cf_ray, server.server_names = dict(HEALTHY), [], RAY, []
    if certificate:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        context.sni_callback = lambda _sock, name, _context: server.server_names.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    # A short poll: shutdown() waits for the loop's next look (0.5 s by default) on every teardown.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving() as server:
        yield server


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Self-signed certificates: "origin" names what the Origin CA one does (the domain and its wildcard,
    components/edge/tls.py), "other" another domain."""
    directory = tmp_path_factory.mktemp("certificates")
    names = {"origin": "DNS:honeydue.app,DNS:*.honeydue.app", "other": "DNS:example.org,DNS:*.example.org"}
    made = {}
    for label, san in names.items():
        cert, key = directory / f"{label}.pem", directory / f"{label}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/O=Smoke test/CN={label}",
                        "-addext", f"subjectAltName={san}"], check=True, capture_output=True, timeout=30)  # fmt: skip
        made[label] = (cert, key)
    # The origin-pull CA and the gate's probe certificate it signed (components/edge/origin_pulls.py).
    ca, ca_key = directory / "pull-ca.pem", directory / "pull-ca.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/O=honeydue/CN=pull CA"],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    probe, probe_key, csr = directory / "probe.pem", directory / "probe.key", directory / "probe.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(probe_key), "-out", str(csr), "-subj", "/O=honeydue/CN=probe"],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-days", "2",
                    "-out", str(probe)], check=True, capture_output=True, timeout=30)  # fmt: skip
    made["pull-ca"], made["probe"] = (ca, ca_key), (probe, probe_key)
    return made


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
    with open(canned["log"], "a") as log:
        log.write(" ".join(args) + "\\n")
    for remote in [int(a[1:]) for a in args if a.startswith(":")]:
        # kubectl's own lines: one per listener, 127.0.0.1 then [::1], for each port in order
        for address in ("127.0.0.1", "[::1]"):
            print("Forwarding from %s:%d -> %d" % (address, canned["forward"][str(remote)], remote), flush=True)
    time.sleep(60)
elif args[:2] == ["get", "nodes"]:
    print(json.dumps({{"items": canned["nodes"]}}))
elif "logs" in args:
    print(canned["logs"])
elif args[:3] == ["get", "--raw", "/readyz/etcd"]:
    print(canned["etcd"])
    sys.exit(0 if canned["etcd"] == "ok" else 1)
elif "pods" in args:
    print(json.dumps({{"items": canned["pods"]}}))
else:
    sys.exit("unexpected kubectl " + " ".join(args))
"""


NONCE = "0123456789abcdef"
SUBJECT = "CN=Cloudflare origin pulls for honeydue.app,O=honeydue"  # Go's pkix.Name.String() of our certificate
PULLS = "origin pulls: Cloudflare presents CN=Cloudflare origin pulls for honeydue.app"


def access_log(*subjects: str) -> str:
    """Traefik's logs as `kubectl logs` prints them: its own lines, an older probe request, and one JSON access-log
    line per request of this run (marked with NONCE) with `subjects` as TLSClientSubject ("" for none)."""
    lines = [
        'time="2026-01-01T00:00:00Z" level=info msg="Configuration loaded"',
        json.dumps({"RequestPath": "/_honeydue/origin-pull-probe?smoke=older-1", "DownstreamStatus": 404}),
    ]
    for i, subject in enumerate(subjects, start=1):
        entry = {"RequestPath": f"/_honeydue/origin-pull-probe?smoke={NONCE}-{i}", "DownstreamStatus": 404}
        lines.append(json.dumps({**entry, **({"TLSClientSubject": subject} if subject else {})}))
    return "\n".join(lines)  # fmt: skip


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake kubectl on PATH answering from `canned` (edit it in a test before running the check)."""
    monkeypatch.setattr(smoke, "nonce", lambda: NONCE)
    canned: dict[str, Any] = {
        "logs": access_log(SUBJECT, SUBJECT),
        "nodes": [node(n) for n in NODES],
        "etcd": "ok",
        "pods": [
            {"metadata": {"name": f"traefik-{n}"}, "spec": {"nodeName": n}, "status": {"phase": "Running"}}
            for n in NODES
        ],
        "forward": {},
        "log": str(tmp_path / "port-forward.log"),
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


def run_smoke(cluster: dict[str, Any], origin: Origin, *extra: str, tls: Origin | None = None) -> int:
    """The smoke check with `origin` as Cloudflare and every node's port 80 (and `tls` as their 443);
    sslMode flexible unless `extra` says otherwise."""
    directory: Path = cluster["_dir"]
    cluster["forward"] = {"80": origin.server_address[1], "443": tls.server_address[1] if tls else 1}
    (directory / "canned.json").write_text(json.dumps({k: v for k, v in cluster.items() if k != "_dir"}))
    address = f"127.0.0.1:{origin.server_address[1]}"
    base = ["--outputs", str(directory / "outputs.json"), "--edge-resolve", address, "--edge-scheme", "http"]
    mode = [] if any(a.startswith("--ssl-mode") for a in extra) else ["--ssl-mode", "flexible"]
    return smoke.main([*base, "--attempts", "1", "--timeout", "2", *mode, *extra])


def forwarded(cluster: dict[str, Any]) -> list[str]:
    """The port arguments of each `kubectl port-forward` the check started."""
    log = Path(cluster["log"])
    lines = log.read_text().splitlines() if log.exists() else []
    return [" ".join(a for a in line.split() if a.startswith(":")) for line in lines]


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
    assert all(f"edge {host}{path}: 200, cf-ray {RAY}" in out for host, path in HEALTHY)


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


def test_an_answer_through_cloudflare_without_cf_ray_fails(
    cluster: dict[str, Any], origin: Origin, capsys: pytest.CaptureFixture[str]
) -> None:
    origin.cf_ray = None  # as a DNS-only record, or one pointing straight at an origin, would answer
    assert run_smoke(cluster, origin, f"--origin=honeydue-1=127.0.0.1:{origin.server_address[1]}") == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("  - ")]
    # Every edge probe fails for it, saying so; the origins, asked directly, are not expected to send one.
    assert failed == [
        f"  - edge {host}{path}: 200 answered without a cf-ray header, so not through Cloudflare (a DNS-only"
        " record, or one pointing straight at an origin?) after 1 attempt(s)"
        for host, path in [(p.host, p.path) for p in smoke.probes(SITE)]
    ]


def test_a_wrong_status_without_cf_ray_says_both() -> None:
    with serving() as server:
        server.cf_ray = None
        server.routes[("api.honeydue.app", "/readyz")] = 503
        edge = smoke.Target("edge", "http", ("127.0.0.1", server.server_address[1]), edge=True)
        result = smoke.check_http(edge, smoke.Probe("api.honeydue.app", "/readyz", 200), 2, 1, 0)
    assert not result.ok and result.detail.startswith("expected 200, got 503; 503 answered without a cf-ray header")


@pytest.mark.parametrize("mode", ["flexible", "full", "strict"])
def test_443_is_probed_only_in_full_and_strict_mode(
    cluster: dict[str, Any],
    origin: Origin,
    certificates: dict[str, tuple[Path, Path]],
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    with serving(certificates["origin"]) as tls:
        assert run_smoke(cluster, origin, f"--ssl-mode={mode}", tls=tls) == 0
    out = capsys.readouterr().out
    if mode == "flexible":
        assert forwarded(cluster) == [":80"] * 3
        assert tls.seen == [] and " https " not in out
        return
    # Each node's Traefik pod: its 443 forwarded with its 80, every probe over HTTPS with SNI = the Host,
    # and the certificate of every public name read.
    assert forwarded(cluster) == [":80 :443"] * 3
    assert sorted(tls.seen) == sorted(list(HEALTHY) * 3)
    hosts = {host for host, _ in HEALTHY}
    assert set(tls.server_names) == hosts
    for node in NODES:
        assert f"origin {node} https api.honeydue.app/readyz: 200" in out
        for host in hosts:
            assert f"ok    origin {node} https {host} certificate: covers {host}, valid until" in out
    # Through Cloudflare to the probe route; Traefik's access log shows our certificate on this run's requests.
    assert f"ok    {PULLS}: 2 of 2 logged requests carried it" in out
    assert sum(path.startswith(f"/_honeydue/origin-pull-probe?smoke={NONCE}-") for _, path in origin.seen) == 6


def test_a_request_through_cloudflare_without_our_client_certificate_fails(
    cluster: dict[str, Any],
    origin: Origin,
    certificates: dict[str, tuple[Path, Path]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster["logs"] = access_log(SUBJECT, "", "CN=someone else")
    with serving(certificates["origin"]) as tls:
        assert run_smoke(cluster, origin, "--ssl-mode=strict", tls=tls) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("  - ")]
    assert failed == [
        f"  - {PULLS}: 2 of 3 logged requests came with ['CN=someone else',"
        " 'no client certificate']: do not set originPullsRequired after 1 attempt(s)"
    ]


def test_phase_2_presents_the_probe_certificate_from_the_state(
    cluster: dict[str, Any],
    origin: Origin,
    certificates: dict[str, tuple[Path, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signature = {state_secrets.SECRET_SIG_KEY: state_secrets.SECRET_SIG}
    cert, key = (path.read_text() for path in certificates["probe"])
    resources = [
        {"type": "tls:index/locallySignedCert:LocallySignedCert", "outputs": {"certPem": cert},
         "urn": "urn:pulumi:prod::honeydue::honeydue:edge:OriginPulls$tls:index/locallySignedCert:LocallySignedCert"
                "::honeydue-origin-pulls-probe-cert"},
        {"type": "tls:index/privateKey:PrivateKey",
         "outputs": {"privateKeyPem": {**signature, "plaintext": json.dumps(key)}},
         "urn": "urn:pulumi:prod::honeydue::honeydue:edge:OriginPulls$tls:index/privateKey:PrivateKey"
                "::honeydue-origin-pulls-probe-key"},
    ]  # fmt: skip
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"deployment": {"resources": resources}}))
    private = tmp_path / "private"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    with serving(certificates["origin"], client_ca=certificates["pull-ca"][0]) as tls:
        # The control: Traefik refuses every request to 443 that comes without a certificate of our CA.
        assert run_smoke(cluster, origin, "--ssl-mode=strict", tls=tls) == 1
        assert "origin honeydue-1 https api.honeydue.app/readyz: no answer" in capsys.readouterr().err
        assert run_smoke(cluster, origin, "--ssl-mode=strict", "--origin-pulls-required", f"--state={state}",
                         tls=tls) == 0  # fmt: skip
    assert "origin honeydue-1 https api.honeydue.app/readyz: 200" in capsys.readouterr().out
    assert list(private.iterdir()) == []  # the probe's key lasted as long as the run


def test_a_certificate_for_another_name_fails(
    cluster: dict[str, Any],
    origin: Origin,
    certificates: dict[str, tuple[Path, Path]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(certificates["other"]) as tls:
        assert run_smoke(cluster, origin, "--ssl-mode=strict", tls=tls) == 1
    captured = capsys.readouterr()
    served = "subject CN=other,O=Smoke test, SAN DNS:example.org, DNS:*.example.org"
    for node in NODES:
        assert f"origin {node} https admin.honeydue.app certificate: the certificate served ({served}) does not cover" \
            " admin.honeydue.app after 1 attempt(s)" in captured.err  # fmt: skip
        # Full mode would take it: the requests themselves got their answers.
        assert f"ok    origin {node} https admin.honeydue.app/: 200" in captured.out
    assert "smoke: 12 of " in captured.err  # four names on each of three nodes, nothing else


def test_a_certificate_outside_its_validity_fails(certificates: dict[str, tuple[Path, Path]]) -> None:
    der = ssl.PEM_cert_to_DER_cert(certificates["origin"][0].read_text())
    now = time.time()
    assert smoke_http.certificate_result("c", der, "www.honeydue.app", now).ok
    assert not smoke_http.certificate_result("c", der, "honeydue.app.example", now).ok
    later = smoke_http.certificate_result("c", der, "www.honeydue.app", now + 3 * 86400)  # made for 2 days
    assert not later.ok and later.detail.startswith("outside its validity")
    earlier = smoke_http.certificate_result("c", der, "www.honeydue.app", now - 3600)
    assert not earlier.ok and earlier.detail.startswith("outside its validity")


def test_the_ssl_mode_defaults_to_the_stack_config(tmp_path: Path) -> None:
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text("config:\n  honeydue:domain: honeydue.app\n")
    assert smoke.stack_ssl_mode("prod", tmp_path) == "flexible"  # Pulumi.yaml's default
    stack_file.write_text("config:\n  honeydue:sslMode: strict\n")
    assert smoke.stack_ssl_mode("prod", tmp_path) == "strict"
    stack_file.write_text("config:\n  honeydue:sslMode: off-ish\n")
    with pytest.raises(OpsError, match="sslMode 'off-ish' is not one of flexible, full, strict"):
        smoke.stack_ssl_mode("prod", tmp_path)


def test_without_the_pulumi_cli_one_sentence_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi (nor anything else) on it
    assert smoke.main(["--stack", "prod"]) == 2
    sentence = "the Pulumi CLI is not on PATH; install it or pass --outputs FILE"
    assert capsys.readouterr().err == f"smoke: cannot run the checks: {sentence}\n"
    # The same OpsError from the function make status reads the outputs with (tools/status.py prints it alike).
    with pytest.raises(OpsError) as raised:
        load_outputs(None, "prod")
    assert str(raised.value) == sentence


def test_make_smoke_without_the_pulumi_cli_one_sentence_and_exit_2(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make, "make is needed"
    run = subprocess.run([make, "-s", "smoke"], cwd=PROJECT_DIR, env={"PATH": str(tmp_path)},
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 2 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and "the Pulumi CLI is not installed" in run.stderr
