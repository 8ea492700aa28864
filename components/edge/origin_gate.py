"""The gate before Cloudflare demands HTTPS: every server's own Traefik serves the issued Origin CA certificate.

Kubernetes accepting the HelmChartConfig and the TLS Secrets proves nothing is served: K3s's helm controller
applies the chart later, Traefik writes an Ingress's status before its configuration and keeps its own default
certificate when loading ours fails. So before the `ssl` setting becomes full/strict, one remote step per server
runs scripts/edge/served-certificate.sh there: it connects to 127.0.0.1:443 (the hostNetwork Traefik; the node
firewall admits 443 only from Cloudflare, so nothing outside could check it) with SNI for each public hostname,
verifies the chain against Cloudflare's Origin CA root for that hostname and compares the served leaf with the
issued certificate, retrying until a deadline. With Authenticated Origin Pulls (edge/origin_pulls.py) it also
presents a probe certificate of the origin-pull CA, which each hostname must accept. In phase 1 (Traefik's
RequestClientCert: any certificate or none, nothing verified, since Cloudflare may present its shared certificate
rather than ours yet) a client without a certificate must be served; in phase 2 (originPullsRequired) a client
without one and a certificate of no CA of ours must be refused (client certificates are verified).

A server's proxied DNS records and its pool endpoint wait for its gate step in full/strict (components/stack.py),
so a new, replaced or returning server gets traffic only once it serves the certificate. A released server
(replaceableNodes) has no records: its step checks nothing, and leaving the list replaces it with the real check,
as the serving step does (edge/serving.py).

The text builders are pure (plain values in, text out); `OriginGate` runs them with pulumi-command.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_command as command

from components.anatomy import NodeTarget, child_options
from components.config.model import SslMode
from components.edge.origin_pulls import ClientCertificate
from components.remote import RemoteFile, StdinFile, remote_command

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "edge" / "served-certificate.sh"
ORIGIN_CA_ROOT = Path(__file__).with_name("origin_ca_ecc_root.pem")
"""Cloudflare's Origin CA root for `origin-ecc` certificates (the file says where it comes from)."""
GATE_DIR = "/usr/local/lib/honeydue/edge"
# Kept on the node, so an operator can run the same check by hand (docs/runbook.md).
SCRIPT_PATH = f"{GATE_DIR}/served-certificate.sh"
ROOT_PATH = f"{GATE_DIR}/origin-ca-root.pem"
ENV_PATH = "/etc/honeydue/origin-gate.env"
# With Authenticated Origin Pulls (components/edge/origin_pulls.py) the gate presents a probe certificate of the
# origin-pull CA: the certificate as a file, its key from the step's stdin (0600, never in the command text), removed
# again when the run ends: a valid client certificate of our CA, which another zone could upload as its own.
PROBE_CERT_PATH = f"{GATE_DIR}/origin-pull-probe.pem"
PROBE_KEY_PATH = "/etc/honeydue/origin-pull-probe.key"

ORIGIN_PORT = 443
# K3s's helm controller runs the chart job within a minute or so of the HelmChartConfig (a klipper-helm Job), and a
# new certificate reaches a running Traefik through its Kubernetes watch without a restart; five minutes covers
# an image pull on a slow node. A bound, not an estimate: past it the `up` fails before the switch.
DEADLINE = 5 * 60
INTERVAL = 5
CONNECT_TIMEOUT = 10
# One round can outlast the deadline by a connection bound per hostname; the node-side limit covers that, and the
# custom timeouts (which only end the dialing, not a running session) cover the limit.
TIME_LIMIT = DEADLINE + 3 * 60
GATE_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="15m", delete="5m")
RELEASED = "echo 'released (replaceableNodes): no DNS record and no pool endpoint, nothing to check until it returns'"

ClientAuth = Literal["optional", "required"]
"""With Authenticated Origin Pulls, what Traefik's TLSOption promises: phase 1 serves any certificate or none
(RequestClientCert), phase 2 (originPullsRequired) refuses a client without a certificate of our CA."""

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----", re.ASCII)
_ENV_KEY = re.compile(r"[A-Z_][A-Z0-9_]*", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)


def certificate_sha256(pem: str) -> str:
    """SHA-256 of the first certificate's DER in `pem`, lowercase hex: what `openssl x509 -outform DER | sha256sum`
    prints of the served leaf, so the node compares like with like. Not secret: the certificate is public."""
    match = _PEM.search(pem)
    if match is None:
        raise ValueError("no PEM certificate to take a fingerprint of")
    try:
        der = base64.b64decode("".join(match.group("body").split()), validate=True)
    except binascii.Error as error:
        raise ValueError(f"the PEM certificate is not base64: {error}") from error
    return hashlib.sha256(der).hexdigest()


def render_env(values: Mapping[str, str]) -> str:
    """KEY=value lines, each value shell-quoted, for the script to source."""
    lines = ["# Rendered by Pulumi (components/edge/origin_gate.py); sourced by served-certificate.sh."]
    for key, value in values.items():
        if not _ENV_KEY.fullmatch(key):
            raise ValueError(f"not a shell variable name: {key!r}")
        lines.append(f"{key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def gate_env(
    node_name: str,
    hostnames: Sequence[str],
    sha256: str,
    *,
    port: int = ORIGIN_PORT,
    deadline: int = DEADLINE,
    interval: int = INTERVAL,
    client_auth: ClientAuth | None = None,
) -> str:
    """/etc/honeydue/origin-gate.env: what the script checks on one node; `client_auth`: that the node accepts the
    probe's certificate and serves a client without one ("optional"), or refuses a client without one and one of
    another CA ("required")."""
    if not hostnames:
        raise ValueError("no hostname to check")
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    if deadline < 1 or interval < 1:
        raise ValueError("deadline and interval must be at least 1 second")
    return render_env(
        {
            "NODE_NAME": node_name,
            "HOSTNAMES": " ".join(hostnames),
            "EXPECTED_SHA256": sha256,
            "ORIGIN_PORT": str(port),
            "DEADLINE": str(deadline),
            "INTERVAL": str(interval),
            "CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            **(
                {"CLIENT_AUTH": client_auth, "CLIENT_CERT": PROBE_CERT_PATH, "CLIENT_KEY": PROBE_KEY_PATH}
                if client_auth
                else {}
            ),
        }
    )


def gate_command(
    node_name: str,
    hostnames: Sequence[str],
    sha256: str,
    *,
    probe_cert_pem: str | None = None,
    client_auth: ClientAuth = "required",
    root_pem: str | None = None,
    port: int = ORIGIN_PORT,
    deadline: int = DEADLINE,
    interval: int = INTERVAL,
) -> str:
    """The remote step's text: install the script, the root and the env file, then run the check.

    `probe_cert_pem` (Authenticated Origin Pulls): the probe's certificate, checked as `client_auth` says; its key
    must be the step's stdin, and is removed when the run ends. `root_pem` (default: Cloudflare's Origin CA ECC
    root), `port`, `deadline` and `interval` are for tests, which drive the same text against a local TLS fixture
    signed by a CA of their own."""
    auth = client_auth if probe_cert_pem is not None else None
    env = gate_env(node_name, hostnames, sha256, port=port, deadline=deadline, interval=interval, client_auth=auth)
    files = [
        RemoteFile(SCRIPT_PATH, "0755", SCRIPT.read_text(encoding="utf-8")),
        RemoteFile(ROOT_PATH, "0644", root_pem if root_pem is not None else ORIGIN_CA_ROOT.read_text(encoding="ascii")),
        RemoteFile(ENV_PATH, "0644", env),
        *([RemoteFile(PROBE_CERT_PATH, "0644", probe_cert_pem)] if probe_cert_pem is not None else []),
    ]
    stdin = StdinFile(PROBE_KEY_PATH, remove_on_exit=True) if auth else None
    return remote_command(files, f'exec "${{HONEYDUE_ROOT:-}}"{SCRIPT_PATH}\n', time_limit=TIME_LIMIT, stdin_file=stdin)


@dataclass(frozen=True, kw_only=True)
class OriginGateArgs:
    hostnames: Sequence[str]
    """The public hostnames (config.apps.public_hostnames): each is checked with its own SNI."""
    certificate_pem: pulumi.Input[str]
    """The issued Origin CA certificate; only its fingerprint reaches the node."""
    ssl_mode: SslMode
    """The mode about to be switched to (full or strict): a change re-runs the gate."""
    targets: Mapping[str, NodeTarget]
    """The servers (the nodes DNS points at) by node name, each `after` its K3s converged."""
    probe: ClientCertificate | None = None
    """With Authenticated Origin Pulls: the probe certificate of the origin-pull CA. The gate then also checks that
    each hostname accepts the probe (and in phase 2 refuses a certificate of another CA)."""
    client_auth: ClientAuth = "optional"
    """With `probe`: whether a client without a certificate must be served (phase 1) or refused (phase 2)."""
    released: frozenset[int] = frozenset()
    """Indices of the servers named in replaceableNodes: no records, so their step checks nothing."""


class OriginGate(pulumi.ComponentResource):
    """One check per server; the `ssl` setting waits for all of them (components/edge/cutover.py)."""

    steps: list[command.remote.Command]
    by_index: dict[int, command.remote.Command]
    """Per server index, its step: that server's proxied records and pool endpoint wait for it (components/stack.py)."""

    def __init__(self, name: str, args: OriginGateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:edge:OriginGate", name, None, opts)
        if args.ssl_mode == "flexible":
            raise ValueError("flexible mode has no origin certificate to check")
        sha256 = pulumi.Output.from_input(args.certificate_pem).apply(certificate_sha256)
        probe = args.probe
        probe_cert: pulumi.Output[str | None] = pulumi.Output.from_input(probe.certificate_pem if probe else None)
        released = remote_command([], RELEASED, time_limit=60)
        auth, phase = args.client_auth, args.client_auth if probe else "none"
        self.steps, self.by_index = [], {}
        for node_name, target in args.targets.items():

            def text_of(values: list[str | None], node: str = node_name) -> str:
                digest, probe_pem = values
                return gate_command(node, args.hostnames, str(digest), probe_cert_pem=probe_pem, client_auth=auth)

            is_released = target.index in args.released
            step = command.remote.Command(
                target.step_name(name),
                connection=target.connection,
                create=released if is_released else pulumi.Output.all(sha256, probe_cert).apply(text_of),
                # The probe's key: through the SSH channel's stdin into a 0600 file (components/remote.py).
                stdin=probe.private_key_pem if probe and not is_released else None,
                # A new certificate, mode or phase checks again; so does a new server (replaced), where the step is
                # tied to its server (a changed connection alone is only an update: pulumi-command #447, #159), and
                # a server leaving replaceableNodes (released -> serving), before its records return.
                triggers=[sha256, args.ssl_mode, phase, target.server_id, "released" if is_released else "serving"],
                add_previous_output_in_env=False,
                # After what serves the certificate (the component's depends_on) and the node's own K3s.
                opts=child_options(self, opts, depends_on=[target.after], custom_timeouts=GATE_TIMEOUTS),
            )
            self.steps.append(step)
            self.by_index[target.index] = step
        self.register_outputs({"sslMode": args.ssl_mode, "certificateSha256": sha256})
