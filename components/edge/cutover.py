"""The SSL cut-over: the one place that orders Cloudflare's SSL mode against what the origin serves.

Switching the mode must never drop traffic:
- to full/strict (phase 1 of Authenticated Origin Pulls): the origin serves the Origin CA certificate and asks for a
  client certificate, serving any (Cloudflare's shared one included) or none, verifying nothing; a gate step per
  server checks that (edge/origin_gate.py); then Cloudflare demands HTTPS; then, the zone in Full or higher as
  Cloudflare asks, origin pulls go on and a step waits until Cloudflare deploys our certificate (edge/origin_pulls.py).
  Nothing here proves that Cloudflare presents it on the next pull, so nothing requires it yet.
- phase 2 (originPullsRequired, once phase 1 finished and the operator saw Cloudflare present it: docs/runbook.md):
  origin pulls on and deployed first, then Traefik refuses a client without our certificate, then the gates check
  that it does;
- to flexible: Cloudflare switches to HTTP first, then (whenever the setting was written) a bounded wait (edge/tls.py
  SETTLE_SECONDS), then the origin may stop serving its certificate and asking for client certificates, then origin
  pulls are switched off.
"Serves" is checked, not assumed: Kubernetes accepting the objects is not Traefik serving them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components import naming
from components.anatomy import NodeTarget
from components.config.model import SslMode
from components.edge.origin_gate import OriginGate, OriginGateArgs
from components.edge.origin_pulls import OriginPulls, OriginPullsArgs
from components.edge.tls import SETTLE_SECONDS, EdgeTls, EdgeTlsArgs, OriginCertificate, OriginCertificateArgs

ServeOrigin = Callable[
    [OriginCertificate | None, OriginPulls | None, Sequence[pulumi.Resource]], Sequence[pulumi.Resource]
]
"""Builds what serves the origin, given its certificate and the origin pulls whose CA it verifies clients against
(both None in flexible mode) and what all of it must wait for; Traefik's TLSOption must also wait for `pulls.ready`
and require a client certificate only with `pulls.required`. Returns what serves the origin (Traefik, and in
full/strict the TLS objects)."""


@dataclass(frozen=True, kw_only=True)
class CutoverArgs:
    zone_id: pulumi.Input[str]
    """Cloudflare zone id."""
    ssl_mode: SslMode
    """The wanted SSL mode."""
    origin_pulls_required: bool = False
    """Phase 2 of Authenticated Origin Pulls (full/strict only; config refuses it otherwise)."""
    domain: str
    """The zone; the Origin CA certificate covers it and its wildcard."""
    validity_days: int
    """Validity of the Origin CA certificate (full/strict)."""
    hostnames: Sequence[str]
    """The public hostnames the gate checks on every server (full/strict)."""
    gate_targets: Mapping[str, NodeTarget]
    """The servers DNS points at, by node name, each `after` its K3s converged: where the gate runs."""
    released: frozenset[int] = frozenset()
    """Indices of the servers in replaceableNodes: their gate checks nothing until they return."""


@dataclass(frozen=True)
class Cutover:
    """The edge settings, and the certificate when the mode needs one."""

    edge_tls: EdgeTls
    origin: OriginCertificate | None
    gate: OriginGate | None
    """The served-certificate check the switch to full/strict waited for (None in flexible mode)."""
    pulls: OriginPulls
    """Authenticated Origin Pulls: on with our CA in full/strict, off in flexible."""
    origin_pulls_state: pulumi.Output[str]
    """"off", "optional" or "required", known once everything of the phase has run: the next `up` reads it back
    (components/config/deployed.py)."""


def ssl_cutover(args: CutoverArgs, serve_origin: ServeOrigin, cloud: pulumi.ResourceOptions) -> Cutover:
    """Creates the SSL settings and, through `serve_origin`, the origin side, each ordered after the other
    as the mode demands (see the module docstring). `cloud` carries the Cloudflare/TLS/command providers."""
    if args.ssl_mode == "flexible":
        return _to_flexible(args, serve_origin, cloud)
    origin = OriginCertificate(
        naming.ORIGIN, OriginCertificateArgs(domain=args.domain, validity_days=args.validity_days), cloud
    )
    pulls = OriginPulls(
        naming.ORIGIN_PULLS,
        OriginPullsArgs(zone_id=args.zone_id, domain=args.domain, enabled=True, required=args.origin_pulls_required),
        cloud,
    )
    if pulls.required:
        # Phase 2: the zone is in full/strict since phase 1; Traefik refuses a bare client once the setting is on
        # and our certificate deployed (pulls.ready, in serve_origin).
        pulls.switch_on([])
    serving = serve_origin(origin, pulls, [])
    gate = OriginGate(
        naming.ORIGIN_GATE,
        OriginGateArgs(
            hostnames=args.hostnames,
            certificate_pem=origin.certificate_pem,
            ssl_mode=args.ssl_mode,
            targets=args.gate_targets,
            probe=pulls.probe,
            client_auth="required" if pulls.required else "optional",
            released=args.released,
        ),
        pulumi.ResourceOptions.merge(cloud, pulumi.ResourceOptions(depends_on=[*serving])),
    )
    edge_tls = EdgeTls(
        naming.EDGE_TLS,
        EdgeTlsArgs(zone_id=args.zone_id, ssl_mode=args.ssl_mode),
        pulumi.ResourceOptions.merge(cloud, pulumi.ResourceOptions(depends_on=[*serving, *gate.steps])),
    )
    if not pulls.required:
        # Phase 1: origin pulls on only once the zone is in Full or higher, Cloudflare's order (edge/origin_pulls.py).
        pulls.switch_on([edge_tls.ssl_setting])
    phase = "required" if pulls.required else "optional"
    # Ids, not URNs: an id is known only once its create (or the state's, when unchanged) is done.
    done = [pulls.active, *gate.steps]
    state = pulumi.Output.all(*[r.id for r in done if isinstance(r, pulumi.CustomResource)]).apply(lambda _: phase)
    return Cutover(edge_tls, origin, gate, pulls, state)


def _to_flexible(args: CutoverArgs, serve_origin: ServeOrigin, cloud: pulumi.ResourceOptions) -> Cutover:
    """Cloudflare to HTTP, the wait, the origin without certificates, origin pulls off."""
    # The wait after the PATCH is always declared and runs whenever the `ssl` setting was written (edge/tls.py): an
    # origin may still serve HTTPS to an edge in full/strict even when the stack's outputs say flexible (a failed
    # `up` towards full/strict). A new stack pays it once.
    edge_tls = EdgeTls(
        naming.EDGE_TLS,
        EdgeTlsArgs(zone_id=args.zone_id, ssl_mode=args.ssl_mode, settle_seconds=SETTLE_SECONDS),
        cloud,
    )
    served = serve_origin(None, None, [edge_tls.settled])
    # Off only once Traefik was told to stop asking for client certificates (HTTP needs none anyway).
    pulls = OriginPulls(
        naming.ORIGIN_PULLS,
        OriginPullsArgs(zone_id=args.zone_id, domain=args.domain, enabled=False),
        pulumi.ResourceOptions.merge(cloud, pulumi.ResourceOptions(depends_on=[*served])),
    )
    return Cutover(edge_tls, None, None, pulls, pulls.settings.id.apply(lambda _: "off"))
