"""Zone-level Authenticated Origin Pulls: Cloudflare proves to the origins that a request came through *our* zone.

Allowing only Cloudflare's ranges proves a request came through Cloudflare, not through our zone: any Cloudflare
account can proxy to the node addresses with our Host header and skip our zone's settings. So in full/strict mode
Cloudflare presents a client certificate of our own CA (uploaded to the zone, zone-level, not per hostname; the
shared certificate of global pulls would prove only Cloudflare) and Traefik verifies it (components/k8s/traefik.py),
in two phases (edge/cutover.py): phase 1 asks for a certificate and serves any or none, verifying nothing, so
nothing breaks while Cloudflare presents its shared certificate or none instead of ours; phase 2 (originPullsRequired)
refuses a client without one of our CA.
Flexible mode reaches the origins over HTTP, where no client certificate exists: there the setting is off and
nothing but the firewall's Cloudflare ranges stands between any Cloudflare account and the origins (README).

The pure part (`ORIGIN_PULL_*`, `active_wait_environment`) is plain data; `OriginPulls` registers the resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command
import pulumi_tls as tls

from components.anatomy import child_options
from components.edge.tls import KEY_ALGORITHM, KEY_CURVE
from components.k8s.manifests import ORIGIN_PULL_CLIENT_CN

ACTIVE_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "edge" / "origin-pull-active.sh"
# Ours alone, and only between Cloudflare and the origins: a long-lived CA costs nothing and its replacement would
# have to be staged (both CAs trusted while Cloudflare switches certificates): docs/runbook.md says how.
CA_VALIDITY_HOURS = 20 * 365 * 24
# The client certificates renew themselves: within the last 30 days an `up` replaces them (pulumi-tls
# early_renewal_hours), under the same CA, so Traefik accepts the old and the new one alike while Cloudflare
# deploys the new upload (create before delete).
CLIENT_VALIDITY_HOURS = 5 * 365 * 24
CLIENT_EARLY_RENEWAL_HOURS = 30 * 24
# Cloudflare deploys an uploaded certificate "within a few minutes"; the step waits at most this long.
ACTIVE_DEADLINE = 15 * 60
ACTIVE_INTERVAL = 10
ACTIVE_TIMEOUTS = pulumi.CustomTimeouts(create="20m", update="20m", delete="1m")


def active_wait_environment(zone_id: str, certificate_id: str) -> dict[str, str]:
    """The environment of scripts/edge/origin-pull-active.sh (the token comes from the run's own environment)."""
    return {
        "ZONE_ID": zone_id,
        "CERTIFICATE_ID": certificate_id,
        "DEADLINE": str(ACTIVE_DEADLINE),
        "INTERVAL": str(ACTIVE_INTERVAL),
    }


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate of the origin-pull CA and its key."""

    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    """Always secret."""


@dataclass(frozen=True, kw_only=True)
class OriginPullsArgs:
    zone_id: pulumi.Input[str]
    """Cloudflare zone id."""
    domain: str
    """The zone's name, for the certificates' subjects."""
    enabled: bool
    """True in full/strict mode: our CA, its certificates, the upload and (`switch_on`) the setting on; False: the
    setting off."""
    required: bool = False
    """Phase 2 (originPullsRequired): Traefik refuses a client without our certificate, once Cloudflare presents it."""


class OriginPulls(pulumi.ComponentResource):
    """The zone's Authenticated Origin Pulls setting in every mode; in full/strict also the CA, the client certificate
    Cloudflare presents (uploaded), a probe certificate for the served-certificate gate, and (`switch_on`) the setting
    on and a step that waits until Cloudflare deploys the upload. Off, a `depends_on` in `opts` orders the setting
    (after Traefik stopped asking for certificates)."""

    settings: cloudflare.AuthenticatedOriginPullsSettings
    ca_certificate_pem: pulumi.Output[str] | None
    """The CA Traefik verifies clients against (full/strict)."""
    probe: ClientCertificate | None
    """What the gate presents on the nodes (full/strict): proves Traefik accepts our CA's certificates."""
    required: bool
    """Phase 2: Traefik refuses a client without our certificate."""
    ready: list[pulumi.Resource]
    """What Traefik's TLSOption waits for: in phase 2 the deployed upload (Cloudflare presents ours), else nothing."""
    active: pulumi.Resource | None
    """The wait for Cloudflare to deploy the upload (full/strict, after `switch_on`)."""

    def __init__(self, name: str, args: OriginPullsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:edge:OriginPulls", name, None, opts)
        self.ca_certificate_pem, self.probe, self.ready, self.active = None, None, [], None
        self.required = args.enabled and args.required
        self._name, self._args, self._opts = name, args, opts
        if not args.enabled:
            # The provider's Delete leaves the setting as it was (terraform-provider-cloudflare v5.22.0
            # authenticated_origin_pulls_settings/resource.go, Delete is empty), so it stays a resource in every mode
            # and off is an update.
            self.settings = self._settings(name, args, False, child_options(self, opts))
            self.register_outputs({"enabled": False})
            return
        child = child_options(self, opts)
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm=KEY_ALGORITHM, ecdsa_curve=KEY_CURVE, opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=pulumi.Output.secret(ca_key.private_key_pem),
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{args.domain} origin-pull CA", organization="honeydue"),
            is_ca_certificate=True,
            allowed_uses=["cert_signing", "crl_signing"],
            validity_period_hours=CA_VALIDITY_HOURS,
            opts=child,
        )
        self.ca_certificate_pem = ca.cert_pem
        client = self._client(f"{name}-client", ORIGIN_PULL_CLIENT_CN.format(domain=args.domain), ca_key, ca, child)
        self.probe = self._client(f"{name}-probe", f"origin gate probe for {args.domain}", ca_key, ca, child)
        # Zone-level, not per hostname: every proxied hostname of the zone presents it. The key is secret in the
        # state (the SDK wraps it: pulumi.Output.secret, additional_secret_outputs privateKey) and never exported.
        self._upload = cloudflare.AuthenticatedOriginPullsCertificate(
            f"{name}-certificate",
            zone_id=args.zone_id,
            certificate=client.certificate_pem,
            private_key=client.private_key_pem,
            opts=child,
        )
        self._ca_pem = ca.cert_pem

    def switch_on(self, after: Sequence[pulumi.Resource]) -> None:
        """The setting on, after the upload and `after`, then the wait until Cloudflare deploys the upload.

        Phase 1 passes the `ssl` setting: "make sure your zone is using an SSL/TLS encryption mode of Full or higher"
        before enabling it (developers.cloudflare.com/ssl/origin-configuration/authenticated-origin-pull/set-up/
        zone-level/, Before you begin). Phase 2 passes nothing: phase 1 has put the zone there already
        (components/config/deployed.py refuses phase 2 otherwise), and Traefik's TLSOption waits for `ready`."""
        name, args, opts = self._name, self._args, self._opts
        if not args.enabled:
            raise ValueError("origin pulls are off in this mode: nothing to switch on")
        upload = self._upload
        # Upload first, then on: "enabled ... either before/after the certificate is uploaded" (Cloudflare API, Set
        # Enablement for Zone); after, so the zone never presents the shared certificate as ours.
        self.settings = self._settings(name, args, True, child_options(self, opts, depends_on=[upload, *after]))
        self.active = command.local.Command(
            f"{name}-active",
            create=ACTIVE_SCRIPT.read_text(encoding="utf-8"),
            interpreter=["/bin/bash", "-c"],
            environment=pulumi.Output.all(args.zone_id, upload.certificate_id).apply(
                lambda v: active_wait_environment(str(v[0]), str(v[1]))
            ),
            # A new upload (a renewed client certificate) is waited for again, and so is the phase: phase 2's
            # TLSOption waits for this step (`ready`), so going to phase 2 checks the upload and the setting again
            # rather than trusting a run of phase 1, which may be long past.
            triggers=[upload.certificate_id, "required" if self.required else "optional"],
            add_previous_output_in_env=False,
            opts=child_options(self, opts, depends_on=[upload, self.settings], custom_timeouts=ACTIVE_TIMEOUTS),
        )
        self.ready = [self.active] if self.required else []
        self.register_outputs({"enabled": True, "required": self.required, "caCertificatePem": self._ca_pem})

    def _settings(
        self, name: str, args: OriginPullsArgs, enabled: bool, opts: pulumi.ResourceOptions
    ) -> cloudflare.AuthenticatedOriginPullsSettings:
        return cloudflare.AuthenticatedOriginPullsSettings(
            f"{name}-settings", zone_id=args.zone_id, enabled=enabled, opts=opts
        )

    @staticmethod
    def _client(
        name: str, common_name: str, ca_key: tls.PrivateKey, ca: tls.SelfSignedCert, opts: pulumi.ResourceOptions
    ) -> ClientCertificate:
        key = tls.PrivateKey(f"{name}-key", algorithm=KEY_ALGORITHM, ecdsa_curve=KEY_CURVE, opts=opts)
        private_key_pem = pulumi.Output.secret(key.private_key_pem)
        csr = tls.CertRequest(
            f"{name}-csr",
            private_key_pem=private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=common_name, organization="honeydue"),
            opts=opts,
        )
        cert = tls.LocallySignedCert(
            f"{name}-cert",
            cert_request_pem=csr.cert_request_pem,
            ca_private_key_pem=pulumi.Output.secret(ca_key.private_key_pem),
            ca_cert_pem=ca.cert_pem,
            allowed_uses=["digital_signature", "client_auth"],
            validity_period_hours=CLIENT_VALIDITY_HOURS,
            early_renewal_hours=CLIENT_EARLY_RENEWAL_HOURS,
            opts=opts,
        )
        return ClientCertificate(certificate_pem=cert.cert_pem, private_key_pem=private_key_pem)
