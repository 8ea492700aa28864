"""The requests of the smoke check (tools/smoke.py): one GET per probe, through Cloudflare (whose answers
must carry `cf-ray`) or straight to an origin (the Host header set and the address pinned, as `curl
--resolve` does), and the certificate an origin serves on 443 with SNI = a public name.

Verified of that certificate: the TLS handshake; the subjectAltName (or, lacking one, the CN) covers the
name (`openssl x509 -checkhost`); now is within notBefore..notAfter. Not verified: that the Origin CA signed
it (no public trust store holds that CA and the repository has no copy of its root), nor revocation.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from tools.ops import OpsError, Site

SUBJECT_ALT_NAME = re.compile(r"Subject Alternative Name: *\n\s*(.+)", re.ASCII)


@dataclass(frozen=True)
class Probe:
    """One request: the Host, the path, and the status that passes."""

    host: str
    path: str
    status: int


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Target:
    """Where requests go: a scheme and an address to connect to (None: resolve the Host by DNS)."""

    name: str
    scheme: str
    address: tuple[str, int] | None
    edge: bool = False
    """Cloudflare: answers must carry cf-ray, and HTTPS is verified against the system trust store."""
    client_cert: str | None = None
    """A PEM file with a client certificate and its key, presented over HTTPS (an origin in phase 2 of
    Authenticated Origin Pulls refuses a client without one: tools/smoke_pulls.py)."""


def probes(site: Site) -> list[Probe]:
    """What must answer: the landing page and health on every api name, the admin app at `/`."""
    api_names = (site.domain, f"www.{site.domain}", site.api_hostname)
    found = [Probe(host, "/healthz", 200) for host in api_names]
    found += [Probe(site.domain, "/", 200), Probe(site.api_hostname, "/readyz", 200)]
    return [*found, Probe(site.admin_hostname, "/", 200)]


def origin_tls_context(client_cert: str | None = None) -> ssl.SSLContext:
    """TLS without chain or name checks: the Origin CA is in no trust store (the name is checked apart); with
    `client_cert` (a PEM file: certificate and key) presented to the origin."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(client_cert)
    return context


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address with SNI = the Host (curl --resolve)."""

    def __init__(self, host: str, address: tuple[str, int], timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, address[1], timeout=timeout, context=context)
        self._address, self._tls = address, context

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def request(target: Target, probe: Probe, timeout: float) -> tuple[int, str | None]:
    """The status code and cf-ray header of one GET (redirects are not followed)."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl.create_default_context() if target.edge else origin_tls_context(target.client_cert)
        connection = _PinnedHTTPS(probe.host, target.address or (probe.host, 443), timeout, context)
    else:
        host, port = target.address or (probe.host, 80)
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", probe.path, headers={"Host": probe.host, "User-Agent": "honeydue-smoke"})
        response = connection.getresponse()
        return response.status, response.getheader("cf-ray")
    finally:
        connection.close()


def retried(check: Callable[[], Result], attempts: int, delay: float) -> Result:
    """The first passing result of up to `attempts` tries (Cloudflare and endpoints may still be settling)."""
    result = check()
    for _ in range(attempts - 1):
        if result.ok:
            return result
        time.sleep(delay)
        result = check()
    return result if result.ok else Result(result.name, False, f"{result.detail} after {attempts} attempt(s)")


def check_http(target: Target, probe: Probe, timeout: float, attempts: int, delay: float) -> Result:
    """One probe against one target, retried; through Cloudflare, the answer must carry cf-ray."""
    name = f"{target.name} {probe.host}{probe.path}"

    def once() -> Result:
        try:
            status, ray = request(target, probe, timeout)
        except (OSError, http.client.HTTPException) as error:
            return Result(name, False, f"no answer ({type(error).__name__}: {error})")
        problems = [] if status == probe.status else [f"expected {probe.status}, got {status}"]
        if target.edge and not ray:
            problems.append(f"{status} answered without a cf-ray header, so not through Cloudflare"
                            " (a DNS-only record, or one pointing straight at an origin?)")  # fmt: skip
        return Result(name, not problems, "; ".join(problems) or (f"{status}, cf-ray {ray}" if ray else str(status)))

    return retried(once, attempts, delay)


def certificate_result(name: str, der: bytes, host: str, now: float) -> Result:
    """Whether a certificate covers `host` and is valid at `now`, as `openssl x509` reads it."""
    command = ["openssl", "x509", "-inform", "DER", "-noout", "-nameopt", "RFC2253", "-subject", "-startdate",
               "-enddate", "-ext", "subjectAltName", "-checkhost", host]  # fmt: skip
    try:
        run = subprocess.run(command, input=der, capture_output=True, timeout=10, check=False)
    except FileNotFoundError as error:
        raise OpsError("openssl is not installed (it reads the origins' certificates)") from error
    text = run.stdout.decode(errors="replace")
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith(" "))
    if run.returncode != 0 or "notAfter" not in fields:
        return Result(name, False, f"openssl cannot read the certificate: {' '.join(run.stderr.decode().split())}")
    san = SUBJECT_ALT_NAME.search(text)
    served = f"subject {fields.get('subject', '')}, SAN {san.group(1).strip() if san else 'none'}"
    if f"Hostname {host} does match certificate" not in text:
        return Result(name, False, f"the certificate served ({served}) does not cover {host}")
    if not ssl.cert_time_to_seconds(fields["notBefore"]) <= now <= ssl.cert_time_to_seconds(fields["notAfter"]):
        return Result(name, False, f"outside its validity ({fields['notBefore']} to {fields['notAfter']}): {served}")
    return Result(name, True, f"covers {host}, valid until {fields['notAfter']} ({served}; chain not checked)")


def check_certificate(target: Target, host: str, timeout: float, attempts: int, delay: float) -> Result:
    """The certificate an origin serves for SNI = host: see the module docstring for what is verified."""
    name = f"{target.name} {host} certificate"

    def once() -> Result:
        try:
            with socket.create_connection(target.address or (host, 443), timeout) as sock, \
                    origin_tls_context(target.client_cert).wrap_socket(sock, server_hostname=host) as tls:  # fmt: skip
                der = tls.getpeercert(binary_form=True)
        except OSError as error:
            return Result(name, False, f"no TLS answer ({type(error).__name__}: {error})")
        return certificate_result(name, der or b"", host, time.time())

    return retried(once, attempts, delay)
