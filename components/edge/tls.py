"""The zone's SSL mode and HTTPS/TLS settings, and the Cloudflare Origin CA certificate Full (strict) needs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command
import pulumi_tls as tls

from components.anatomy import child_options
from components.config.checks import ORIGIN_CERT_VALIDITIES
from components.config.model import SslMode

# The Origin CA signs ECDSA keys as "origin-ecc" (RSA ones as "origin-rsa"). Only Cloudflare's edge ever
# verifies this certificate and it speaks ECDSA, so P-256 costs no compatibility and gives smaller handshakes.
KEY_ALGORITHM = "ECDSA"
KEY_CURVE = "P256"
ORIGIN_REQUEST_TYPE = "origin-ecc"


def zone_settings(ssl_mode: SslMode) -> dict[str, str]:
    """The zone settings (setting id -> value) the edge enforces, each after those it reads (SETTINGS_AFTER)."""
    return {
        # Cloudflare's Automatic SSL/TLS ("auto", the default since 2024) rescans the origin and may raise `ssl`
        # behind the program; "custom" keeps the mode the program writes (PATCH /zones/{id}/settings/
        # ssl_automatic_mode, developers.cloudflare.com/api/resources/ssl/subresources/automatic_upgrader).
        "ssl_automatic_mode": "custom",
        # 0-RTT early data can be replayed and has no forward secrecy. Cloudflare takes it for GET, HEAD and
        # OPTIONS only (developers.cloudflare.com/speed/optimization/protocol/0-rtt-connection-resumption), so
        # no POST, but a GET with side effects could run twice. With it on, the API reads tls_1_3 back as "zrt"
        # ("Enabled+0RTT", terraform-provider-cloudflare #106, #7118) and the program's "on" would drift.
        "0rtt": "off",
        # flexible: Cloudflare → origin over HTTP; full: HTTPS, any certificate; strict: HTTPS with a
        # certificate Cloudflare trusts (the Origin CA one) for the hostname.
        "ssl": ssl_mode,
        "always_use_https": "on",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
    }


SETTINGS_AFTER: dict[str, tuple[str, ...]] = {
    # The mode is written once automatic mode is off: Cloudflare does not document whether it refuses or later
    # overrides a mode written while "auto" is on, so the program never writes one then.
    "ssl": ("ssl_automatic_mode",),
    # tls_1_3 reads "on" only once 0-RTT is off; written after it, the `up` leaves both as the next refresh
    # reads them.
    "tls_1_3": ("0rtt",),
}
"""Setting id -> the settings it is written after."""


@dataclass(frozen=True, kw_only=True)
class EdgeTlsArgs:
    zone_id: pulumi.Input[str]
    """Cloudflare zone id."""
    ssl_mode: SslMode
    """How Cloudflare reaches the origin: flexible (HTTP), full (HTTPS) or strict (HTTPS, verified)."""
    settle_seconds: int = 0
    """Seconds a step on the machine running `up` waits after the `ssl` setting (0: no step), see `EdgeTls.settled`."""


SETTLE_SECONDS = 60
"""How long the way back to Flexible waits after the `ssl` PATCH before the origin stops serving HTTPS. The API
answers the new value at once, but Cloudflare documents neither how long a setting takes to reach every edge nor
any status of it (developers.cloudflare.com/api/go/resources/zones/subresources/settings/methods/edit/), so a
bounded wait stands in for a check that does not exist; an edge still in full/strict meanwhile keeps finding 443."""


class EdgeTls(pulumi.ComponentResource):
    """The zone's SSL mode and HTTPS/TLS settings, one ZoneSetting each.

    A `depends_on` in `opts` holds every setting, the ssl one included, until those resources exist: in
    full/strict mode pass what serves the origin certificate, so Cloudflare never demands HTTPS from an
    origin that can't answer it yet.
    """

    ssl_setting: cloudflare.ZoneSetting
    """The `ssl` setting, for what must change only after the mode did (going back to flexible)."""
    settled: pulumi.Resource
    """The `ssl` setting, or with `settle_seconds` the wait after it: what may stop serving the old mode after."""
    settings: dict[str, cloudflare.ZoneSetting]
    """Every setting by its id."""

    def __init__(self, name: str, args: EdgeTlsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:edge:EdgeTls", name, None, opts)
        # Ordered like the component: the ssl mode must not switch before the origin serves its certificate.
        values = zone_settings(args.ssl_mode)
        self.settings = {}
        for setting_id, value in values.items():
            after = [self.settings[before] for before in SETTINGS_AFTER.get(setting_id, ())]
            self.settings[setting_id] = cloudflare.ZoneSetting(
                f"{name}-{setting_id.replace('_', '-')}",
                zone_id=args.zone_id,
                setting_id=setting_id,
                value=value,
                opts=child_options(self, opts, depends_on=after),
            )
        self.ssl_setting = self.settings["ssl"]
        self.settled = self.ssl_setting
        if args.settle_seconds > 0:
            # Runs where `pulumi up` runs and only when created: whenever the `ssl` setting was written (its
            # modified_on, which Cloudflare sets on each edit and the provider reads back: terraform-provider-
            # cloudflare v5 internal/services/zone_setting/model.go ModifiedOn, computed), not on every `up`. Not the
            # stack's record of the last mode: an `up` that failed after the switch to full/strict leaves that
            # record behind, and the way back must wait all the same.
            self.settled = command.local.Command(
                f"{name}-settle",
                create=f"sleep {int(args.settle_seconds)}",
                triggers=[self.ssl_setting.modified_on],
                add_previous_output_in_env=False,
                opts=child_options(self, opts, depends_on=[self.ssl_setting]),
            )
        self.register_outputs({"sslMode": args.ssl_mode, "settings": values})


@dataclass(frozen=True, kw_only=True)
class OriginCertificateArgs:
    domain: str
    """The zone; the certificate covers it and `*.<domain>`."""
    validity_days: int
    """Validity requested from the Origin CA (7, 30, 90, 365, 730, 1095 or 5475)."""

    def __post_init__(self) -> None:
        if self.validity_days not in ORIGIN_CERT_VALIDITIES:
            raise ValueError(f"the Origin CA issues for {ORIGIN_CERT_VALIDITIES} days, not {self.validity_days}")


class OriginCertificate(pulumi.ComponentResource):
    """A private key, its CSR and the Cloudflare Origin CA certificate for the domain and its wildcard."""

    certificate_pem: pulumi.Output[str]
    """The certificate (PEM); trusted by Cloudflare's edge only, which is all Full (strict) needs."""
    private_key_pem: pulumi.Output[str]
    """The private key (PEM), always secret."""
    expires_on: pulumi.Output[str]
    """When the certificate expires."""
    certificate: cloudflare.OriginCaCertificate
    """The certificate resource."""

    def __init__(self, name: str, args: OriginCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:edge:OriginCertificate", name, None, opts)
        child = child_options(self, opts)
        # In the order the API lists them (sorted: the wildcard first). The provider's Read writes that order
        # into the state and `hostnames` forces replacement, so any other order replaces the certificate after
        # every refresh (offline/side_effects.py REFRESH_READS; scenario refresh-strict).
        hostnames = sorted([args.domain, f"*.{args.domain}"])
        key = tls.PrivateKey(f"{name}-key", algorithm=KEY_ALGORITHM, ecdsa_curve=KEY_CURVE, opts=child)
        # pulumi-tls marks privateKeyPem secret through additionalSecretOutputs, which only the engine applies;
        # wrapping it makes the Output secret in the program, for every consumer (CSR, TLS Secret, exports).
        private_key_pem = pulumi.Output.secret(key.private_key_pem)
        csr = tls.CertRequest(
            f"{name}-csr",
            private_key_pem=private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=args.domain),
            dns_names=hostnames,
            opts=child,
        )
        # A new key, validity or hostname list replaces the certificate; the default create-before-delete
        # keeps the old one valid (deleting it revokes it) until its consumers have the new one.
        self.certificate = cloudflare.OriginCaCertificate(
            f"{name}-cert",
            csr=csr.cert_request_pem,
            hostnames=hostnames,
            request_type=ORIGIN_REQUEST_TYPE,
            requested_validity=args.validity_days,
            opts=child,
        )
        self.certificate_pem = self.certificate.certificate
        self.private_key_pem = private_key_pem
        self.expires_on = self.certificate.expires_on
        self.register_outputs(
            {
                "certificatePem": self.certificate_pem,
                "privateKeyPem": self.private_key_pem,
                "expiresOn": self.expires_on,
            }
        )
