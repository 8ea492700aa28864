"""The served-certificate gate (components/edge/origin_gate.py, scripts/edge/served-certificate.sh) run for real.

The remote step's own text runs with bash in a throwaway root against a local TLS server on 127.0.0.1 that picks
its certificate by SNI, as Traefik does; a test CA of our own stands in for Cloudflare's Origin CA root (the
builder's `root_pem`). The gate must pass only when every hostname serves the issued leaf with a chain that
verifies for that hostname, and otherwise name each hostname that does not, once its deadline has passed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from components.edge.origin_gate import (
    ENV_PATH,
    ORIGIN_CA_ROOT,
    PROBE_KEY_PATH,
    ROOT_PATH,
    SCRIPT,
    SCRIPT_PATH,
    ClientAuth,
    certificate_sha256,
    gate_command,
    gate_env,
)
from tests.validators import require_tool

DOMAIN = "honeydue.app"
HOSTNAMES = (DOMAIN, f"www.{DOMAIN}", f"api.{DOMAIN}", f"admin.{DOMAIN}")
NODE = "honeydue-1"


@dataclass(frozen=True)
class Pair:
    """A certificate (PEM file) and its key."""

    cert: Path
    key: Path

    @property
    def sha256(self) -> str:
        return certificate_sha256(self.cert.read_text())


def _openssl(*args: str | Path) -> None:
    subprocess.run([require_tool("openssl"), *map(str, args)], check=True, capture_output=True, timeout=30)


def _key(path: Path) -> Path:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    return path


def _ca(directory: Path, name: str) -> Pair:
    key = _key(directory / f"{name}.key")
    cert = directory / f"{name}.pem"
    _openssl("req", "-x509", "-new", "-key", key, "-subj", f"/O=Test/OU={name}", "-days", "2", "-out", cert,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    return Pair(cert, key)


def _leaf(directory: Path, name: str, ca: Pair, sans: tuple[str, ...]) -> Pair:
    """Shaped like an Origin CA certificate: the names in the SAN, serverAuth, signed by `ca`."""
    key = _key(directory / f"{name}.key")
    csr, cert, ext = directory / f"{name}.csr", directory / f"{name}.pem", directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={','.join(f'DNS:{s}' for s in sans)}\nextendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("req", "-new", "-key", key, "-subj", f"/O=Test/CN={name}", "-out", csr)
    _openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-days", "2", "-extfile", ext, "-out", cert)
    return Pair(cert, key)


@dataclass(frozen=True)
class Pki:
    ca: Pair
    """Stands in for Cloudflare's Origin CA root."""
    issued: Pair
    """Stands in for the certificate Pulumi issued: the apex and its wildcard, as components/edge/tls.py asks."""
    other: Pair
    """Another certificate of the same CA for the same names: verifies, but is not the one issued."""
    default: Pair
    """Like Traefik's own self-signed default certificate."""
    rogue: Pair
    """The right names from a CA that is not the root."""
    apex_only: Pair
    """The right CA, but only the apex in its SAN."""
    pull_ca: Pair
    """Stands in for the origin-pull CA (components/edge/origin_pulls.py)."""
    probe: Pair
    """A client certificate of `pull_ca`, as the gate presents with Authenticated Origin Pulls."""
    other_pull_ca: Pair
    """Another CA: an origin that trusts it refuses our probe."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, rogue_ca, pull_ca = _ca(d, "Test Origin CA"), _ca(d, "Rogue CA"), _ca(d, "Test pull CA")
    names = (DOMAIN, f"*.{DOMAIN}")
    default_key = _key(d / "default.key")
    _openssl("req", "-x509", "-new", "-key", default_key, "-subj", "/CN=TRAEFIK DEFAULT CERT", "-days", "2",
             "-out", d / "default.pem")  # fmt: skip
    return Pki(
        ca=ca,
        issued=_leaf(d, "issued", ca, names),
        other=_leaf(d, "other", ca, names),
        default=Pair(d / "default.pem", default_key),
        rogue=_leaf(d, "rogue", rogue_ca, names),
        apex_only=_leaf(d, "apex-only", ca, (DOMAIN,)),
        pull_ca=pull_ca,
        probe=_leaf(d, "probe", pull_ca, ("origin-gate-probe",)),
        other_pull_ca=_ca(d, "Other pull CA"),
    )


class Origin:
    """A TLS server on 127.0.0.1 choosing its certificate by SNI, like Traefik (an unknown name gets the default)."""

    def __init__(self, default: Pair) -> None:
        self.client_ca: Path | None = None
        """Set: a client certificate must be one this CA signed (Traefik's VerifyClientCertIfGiven; unset: none is
        asked for, which to the gate looks like phase 1's RequestClientCert, asking and verifying nothing)..."""
        self.client_required = True
        """... and every handshake must present one (RequireAndVerifyClientCert)."""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.served: dict[str, Pair] = {}
        self.default = default
        self.handshakes: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _context(self, pair: Pair) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pair.cert, pair.key)
        if self.client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED if self.client_required else ssl.CERT_OPTIONAL
            context.load_verify_locations(self.client_ca)
        return context

    def _pick(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        self.handshakes.append(name or "")
        sock.context = self._context(self.served.get(name or "", self.default))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            # Per connection: the client-certificate demand is the SSL object's, taken from this context.
            front = self._context(self.default)
            front.sni_callback = self._pick
            conn.settimeout(5)
            try:
                with front.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # until the client closes
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def origin(pki: Pki) -> Iterator[Origin]:
    server = Origin(pki.default)
    yield server
    server.close()


Gate = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def gate(tmp_path: Path, pki: Pki) -> Gate:
    """Runs the gate's remote command text, as the node would, against `port`."""
    require_tool("openssl")

    def run(
        port: int,
        expected: Pair,
        *,
        deadline: int = 1,
        interval: int = 1,
        probe: Pair | None = None,
        client_auth: ClientAuth = "required",
    ) -> subprocess.CompletedProcess[str]:
        root, scratch = tmp_path / "root", tmp_path / "tmp"
        scratch.mkdir(exist_ok=True)
        text = gate_command(
            NODE, HOSTNAMES, expected.sha256, root_pem=pki.ca.cert.read_text(), port=port, deadline=deadline,
            interval=interval, probe_cert_pem=probe.cert.read_text() if probe else None, client_auth=client_auth,
        )  # fmt: skip
        env = {"PATH": os.environ["PATH"], "HONEYDUE_ROOT": str(root), "TMPDIR": str(scratch)}
        stdin = probe.key.read_text() if probe else ""  # the probe's key, as the step's stdin carries it
        return subprocess.run(["bash", "-c", text], input=stdin, capture_output=True, text=True, env=env, timeout=60)

    return run


def _failed_hosts(stderr: str) -> list[str]:
    prefix = f"served-certificate.sh [{NODE}]: "
    return [line[len(prefix) :].split(":", 1)[0] for line in stderr.splitlines() if line.startswith(prefix)][:-1]


def test_passes_when_every_hostname_serves_the_issued_certificate(origin: Origin, gate: Gate, pki: Pki) -> None:
    origin.served = dict.fromkeys(HOSTNAMES, pki.issued)
    run = gate(origin.port, pki.issued)
    assert run.returncode == 0, run.stderr
    assert f"serves the issued certificate (sha256 {pki.issued.sha256}) for {' '.join(HOSTNAMES)}" in run.stdout
    assert sorted(set(origin.handshakes)) == sorted(HOSTNAMES)  # one handshake per hostname, each with its SNI


def test_one_hostname_serving_another_certificate_of_the_same_ca_fails_naming_it(
    origin: Origin, gate: Gate, pki: Pki
) -> None:
    origin.served = {**dict.fromkeys(HOSTNAMES, pki.issued), f"api.{DOMAIN}": pki.other}
    run = gate(origin.port, pki.issued)
    assert run.returncode == 1
    assert _failed_hosts(run.stderr) == [f"api.{DOMAIN}"]
    assert f"api.{DOMAIN}: serves another certificate" in run.stderr and pki.other.sha256 in run.stderr
    assert "does not verify" not in run.stderr  # it does verify: only the fingerprint tells it apart
    assert run.stderr.splitlines()[-1].endswith("not served within 1s; Cloudflare's SSL mode was not changed")


def test_a_hostname_left_to_the_default_certificate_fails_on_both_counts(origin: Origin, gate: Gate, pki: Pki) -> None:
    origin.served = {h: pki.issued for h in HOSTNAMES if h != f"admin.{DOMAIN}"}
    run = gate(origin.port, pki.issued)
    assert run.returncode == 1 and _failed_hosts(run.stderr) == [f"admin.{DOMAIN}"]
    (line,) = [line for line in run.stderr.splitlines() if f"admin.{DOMAIN}:" in line]
    assert "serves another certificate" in line and "TRAEFIK DEFAULT CERT" in line
    assert "does not verify against the Origin CA root" in line


def test_the_issued_leaf_from_another_ca_fails_the_chain_check(origin: Origin, gate: Gate, pki: Pki) -> None:
    origin.served = dict.fromkeys(HOSTNAMES, pki.rogue)
    run = gate(origin.port, pki.rogue)  # the expected fingerprint matches: only the chain is wrong
    assert run.returncode == 1 and _failed_hosts(run.stderr) == list(HOSTNAMES)
    assert "serves another certificate" not in run.stderr
    assert run.stderr.count("does not verify against the Origin CA root") == len(HOSTNAMES)
    assert "unable to get local issuer certificate" in run.stderr


def test_a_certificate_that_does_not_name_the_hostname_fails_for_that_hostname(
    origin: Origin, gate: Gate, pki: Pki
) -> None:
    origin.served = dict.fromkeys(HOSTNAMES, pki.apex_only)
    run = gate(origin.port, pki.apex_only)
    assert run.returncode == 1 and _failed_hosts(run.stderr) == list(HOSTNAMES[1:])
    assert "hostname mismatch" in run.stderr


def test_nothing_listening_fails_once_the_deadline_has_passed(gate: Gate, pki: Pki) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free, and closed again below
    started = time.monotonic()
    run = gate(port, pki.issued, deadline=3, interval=1)
    took = time.monotonic() - started
    assert run.returncode == 1 and _failed_hosts(run.stderr) == list(HOSTNAMES)
    assert run.stderr.count("no certificate served") == len(HOSTNAMES)
    assert run.stderr.splitlines()[-1].endswith("not served within 3s; Cloudflare's SSL mode was not changed")
    assert 2 <= took < 20  # it retried until the deadline, and no longer


def test_retries_until_the_certificate_is_served(origin: Origin, gate: Gate, pki: Pki) -> None:
    """What the gate is for: the helm controller applies the chart some time after Kubernetes accepted it."""
    switch = threading.Timer(1.5, lambda: origin.served.update(dict.fromkeys(HOSTNAMES, pki.issued)))
    switch.start()
    try:
        run = gate(origin.port, pki.issued, deadline=20, interval=1)
    finally:
        switch.cancel()
    assert run.returncode == 0, run.stderr
    assert origin.handshakes.count(DOMAIN) >= 2  # failed at least once before it passed


# --- with Authenticated Origin Pulls (issue 25 item 2): the probe certificate of the origin-pull CA -----------


def test_phase_2_passes_when_the_probe_is_accepted_and_a_bare_client_refused(
    origin: Origin, gate: Gate, pki: Pki, tmp_path: Path
) -> None:
    origin.client_ca = pki.pull_ca.cert
    origin.served = dict.fromkeys(HOSTNAMES, pki.issued)
    run = gate(origin.port, pki.issued, probe=pki.probe)
    assert run.returncode == 0, run.stderr
    # Review item 5: the probe's key (a valid client certificate of our CA) does not outlive the run.
    key = tmp_path / "root" / PROBE_KEY_PATH.lstrip("/")
    assert not key.exists() and key.parent.is_dir()
    # Without the probe the same origin still shows its certificate (TLS 1.3 sends it before asking for ours), so the
    # gate without origin pulls keeps working against it.
    assert gate(origin.port, pki.issued).returncode == 0


def test_phase_1_passes_when_a_bare_client_is_served_and_fails_where_it_is_refused(
    origin: Origin, gate: Gate, pki: Pki
) -> None:
    # Phase 1 is RequestClientCert: any certificate or none, nothing verified (Cloudflare's shared one included).
    # Python's ssl cannot ask without verifying, so the origin asks for nothing: the same answers to the gate.
    origin.served = dict.fromkeys(HOSTNAMES, pki.issued)
    run = gate(origin.port, pki.issued, probe=pki.probe, client_auth="optional")
    assert run.returncode == 0, run.stderr
    # The same origin fails phase 2 on both counts: it serves a bare client and one of another CA.
    phase_2 = gate(origin.port, pki.issued, probe=pki.probe)
    assert phase_2.returncode == 1 and _failed_hosts(phase_2.stderr) == list(HOSTNAMES)
    assert phase_2.stderr.count("answers a client without a certificate") == len(HOSTNAMES)
    assert phase_2.stderr.count("accepts a client certificate of another CA") == len(HOSTNAMES)
    assert "refuses the probe" not in phase_2.stderr
    # A node still requiring the certificate (phase 2 left behind) would answer 525 to an edge without ours.
    origin.client_ca = pki.pull_ca.cert
    run = gate(origin.port, pki.issued, probe=pki.probe, client_auth="optional")
    assert run.returncode == 1 and _failed_hosts(run.stderr) == list(HOSTNAMES)
    assert run.stderr.count("refuses a client without a certificate: in phase 1") == len(HOSTNAMES)
    assert "another CA" not in run.stderr  # phase 1 does not ask that another CA's certificate is refused


def test_with_origin_pulls_an_origin_trusting_another_ca_fails(origin: Origin, gate: Gate, pki: Pki) -> None:
    origin.client_ca = pki.other_pull_ca.cert
    origin.served = dict.fromkeys(HOSTNAMES, pki.issued)
    run = gate(origin.port, pki.issued, probe=pki.probe)
    assert run.returncode == 1 and _failed_hosts(run.stderr) == list(HOSTNAMES)
    assert run.stderr.count("refuses the probe certificate of the origin-pull CA") == len(HOSTNAMES)
    assert "answers a client without a certificate" not in run.stderr


def test_the_step_installs_the_script_and_its_inputs_for_a_run_by_hand(
    origin: Origin, gate: Gate, pki: Pki, tmp_path: Path
) -> None:
    origin.served = dict.fromkeys(HOSTNAMES, pki.issued)
    assert gate(origin.port, pki.issued).returncode == 0
    root = tmp_path / "root"
    installed = root / SCRIPT_PATH.lstrip("/")
    assert installed.read_text() == SCRIPT.read_text() and os.access(installed, os.X_OK)
    again = subprocess.run(
        [str(installed)], capture_output=True, text=True, timeout=30,
        env={"PATH": os.environ["PATH"], "HONEYDUE_ROOT": str(root)},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert not [p for p in root.rglob(".*") if p.is_file()]  # no temp file left behind
    assert (root / ENV_PATH.lstrip("/")).read_text().count("\n") == 8


def test_a_run_by_hand_with_origin_pulls_needs_the_key_again_and_removes_it(
    origin: Origin, gate: Gate, pki: Pki, tmp_path: Path
) -> None:
    origin.client_ca = pki.pull_ca.cert
    origin.served = dict.fromkeys(HOSTNAMES, pki.issued)
    assert gate(origin.port, pki.issued, probe=pki.probe).returncode == 0
    root = tmp_path / "root"
    by_hand = [str(root / SCRIPT_PATH.lstrip("/"))]
    env = {"PATH": os.environ["PATH"], "HONEYDUE_ROOT": str(root)}
    again = subprocess.run(by_hand, capture_output=True, text=True, timeout=30, env=env)
    assert again.returncode == 1 and "the probe's key" in again.stderr and "is missing" in again.stderr
    key = root / PROBE_KEY_PATH.lstrip("/")
    key.write_text(pki.probe.key.read_text())  # as docs/runbook.md pipes it from the state
    again = subprocess.run(by_hand, capture_output=True, text=True, timeout=30, env=env)
    assert again.returncode == 0, again.stderr
    assert not key.exists()
    # Review item 4: an input missing removes the key too (the trap is set before any check).
    key.write_text(pki.probe.key.read_text())
    (root / ROOT_PATH.lstrip("/")).unlink()
    again = subprocess.run(by_hand, capture_output=True, text=True, timeout=30, env=env)
    assert again.returncode == 1 and "origin-ca-root.pem is missing" in again.stderr
    assert not key.exists()


def test_the_fingerprint_is_the_one_openssl_takes_of_the_der() -> None:
    openssl = require_tool("openssl")
    der = subprocess.run([openssl, "x509", "-in", str(ORIGIN_CA_ROOT), "-outform", "DER"], capture_output=True,
                         check=True, timeout=30).stdout  # fmt: skip
    listed = subprocess.run([openssl, "x509", "-in", str(ORIGIN_CA_ROOT), "-noout", "-fingerprint", "-sha256"],
                            capture_output=True, text=True, check=True, timeout=30).stdout  # fmt: skip
    digest = certificate_sha256(ORIGIN_CA_ROOT.read_text())
    assert listed.strip().split("=", 1)[1].replace(":", "").lower() == digest
    assert hashlib.sha256(der).hexdigest() == digest


def test_the_stored_root_is_cloudflare_s_self_signed_origin_ecc_root() -> None:
    openssl = require_tool("openssl")
    path = str(ORIGIN_CA_ROOT)
    shown = subprocess.run([openssl, "x509", "-in", path, "-noout", "-subject", "-issuer", "-enddate", "-text"],
                           capture_output=True, text=True, check=True, timeout=30).stdout  # fmt: skip
    name = (
        'C = US, ST = California, L = San Francisco, O = "CloudFlare, Inc.", '
        "OU = CloudFlare Origin SSL ECC Certificate Authority"
    )
    assert f"subject={name}\n" in shown and f"issuer={name}\n" in shown
    assert "NIST CURVE: P-256" in shown and "CA:TRUE" in shown
    assert "notAfter=Aug 15 17:00:00 2029 GMT" in shown
    verified = subprocess.run([openssl, "verify", "-check_ss_sig", "-CAfile", path, path], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
    # Self-signed and valid today; after 2029-08-15 this fails, and the root must be replaced (the file says how).
    assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), verified.stdout + verified.stderr
    assert datetime(2029, 8, 15, 17, tzinfo=UTC) > datetime.now(UTC)
    assert certificate_sha256(ORIGIN_CA_ROOT.read_text()) == (
        "aa63697a22764b67b2134ce14cb5690ea336940b93986113f49545917832d80d"
    )


def test_the_script_passes_shellcheck() -> None:
    run = subprocess.run([require_tool("shellcheck"), "-s", "bash", str(SCRIPT)], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hostnames": ()}, "no hostname"),
        ({"sha256": "AA" * 32}, "lowercase hex"),
        ({"sha256": "ab"}, "lowercase hex"),
        ({"deadline": 0}, "at least 1 second"),
    ],
)
def test_the_env_refuses_what_the_script_could_not_check(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"node_name": NODE, "hostnames": HOSTNAMES, "sha256": "ab" * 32, **kwargs}
    with pytest.raises(ValueError, match=message):
        gate_env(**args)  # type: ignore[arg-type]


def test_a_pem_without_a_certificate_has_no_fingerprint() -> None:
    with pytest.raises(ValueError, match="no PEM certificate"):
        certificate_sha256("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
