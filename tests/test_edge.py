"""The Cloudflare edge components as they register (mock engine): DNS records, zone settings, Origin CA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import product
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_tls as tls
import pytest

from components.config.model import SslMode
from components.edge.zone import (
    EdgeDns,
    EdgeDnsArgs,
    EdgeTls,
    EdgeTlsArgs,
    OriginCertificate,
    OriginCertificateArgs,
    cloudflare_zone_id,
    dns_records,
    host_label,
    zone_settings,
)
from offline import fakes
from offline.harness import PlanMocks, run_program
from offline.plan import revealed
from offline.records import Plan, Registration, SecretValue

DOMAIN = "honeydue.app"
HOSTNAMES = (DOMAIN, f"www.{DOMAIN}", f"api.{DOMAIN}", f"admin.{DOMAIN}")
API_DNS_NAME = f"k8s.{DOMAIN}"
SERVERS = {
    "honeydue-1": ("203.0.113.11", "2001:db8:11::1"),
    "honeydue-2": ("203.0.113.12", "2001:db8:12::1"),
    "honeydue-3": ("203.0.113.13", "2001:db8:13::1"),
}
CONFIGURED_ZONE = "fedcba9876543210fedcba9876543210"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
KEY = "tls:index/privateKey:PrivateKey"
CSR = "tls:index/certRequest:CertRequest"
CERT = "cloudflare:index/originCaCertificate:OriginCaCertificate"
COMMENT = "managed by pulumi (honeydue/prod)"


def edge_program(
    *,
    ssl_mode: SslMode = "strict",
    api_dns_name: str | None = API_DNS_NAME,
    zone_id: str | None = None,
    validity_days: int = 5475,
    withdrawn: frozenset[str] = frozenset(),
) -> Callable[[], None]:
    """The edge as the stack wires it, with explicit providers and stand-ins for the nodes and the origin."""

    def program() -> None:
        cf = cloudflare.Provider("cloudflare")  # its token from CLOUDFLARE_API_TOKEN, as the stack's
        local = tls.Provider("tls")
        opts = pulumi.ResourceOptions(providers=[cf, local])
        zone = cloudflare_zone_id(cf, DOMAIN, zone_id)
        servers = [
            (name, pulumi.Output.from_input(v4), pulumi.Output.from_input(v6)) for name, (v4, v6) in SERVERS.items()
        ]
        dns = EdgeDns(
            "honeydue-edge",
            EdgeDnsArgs(
                zone_id=zone,
                domain=DOMAIN,
                hostnames=HOSTNAMES,
                servers=servers,
                api_dns_name=api_dns_name,
                api_addresses=[v4 for _, v4, _ in servers],
                api_servers=list(SERVERS),
                withdrawn=withdrawn,
            ),
            opts,
        )
        # Stand-ins for each server's serving step (components/edge/serving.py).
        serving = {
            name: [tls.PrivateKey(f"serving-{name}", algorithm="ED25519", opts=pulumi.ResourceOptions(provider=local))]
            for name in SERVERS
            if name not in withdrawn
        }
        dns.publish(serving)
        cert = OriginCertificate(
            "honeydue-origin", OriginCertificateArgs(domain=DOMAIN, validity_days=validity_days), opts
        )
        # Stand-in for what serves the certificate at the origin (TLS Secret, Traefik, Ingress).
        served = tls.PrivateKey("origin-served", algorithm="ED25519", opts=pulumi.ResourceOptions(provider=local))
        tls_opts = pulumi.ResourceOptions(providers=[cf], depends_on=[served] if ssl_mode != "flexible" else [])
        edge_tls = EdgeTls("honeydue-edge", EdgeTlsArgs(zone_id=zone, ssl_mode=ssl_mode), tls_opts)
        # Stand-in for a Kubernetes object ordered after the mode (going back to flexible).
        after = pulumi.ResourceOptions(provider=local, depends_on=[edge_tls.ssl_setting])
        tls.PrivateKey("after-ssl", algorithm="ED25519", opts=after)
        pulumi.export("certificatePem", cert.certificate_pem)
        pulumi.export("privateKeyPem", cert.private_key_pem)

    return program


@pytest.fixture(scope="module")
def strict_plan() -> Plan:
    return run_program("prod", program=edge_program())


def component(plan: Plan, type_: str, name: str) -> Registration:
    return plan.get(f"honeydue:edge:{type_}", name)


# ------------------------------------------------------------------------------------------- DNS


def test_proxied_records_for_every_host_family_and_server(strict_plan: Plan) -> None:
    dns = component(strict_plan, "EdgeDns", "honeydue-edge")
    proxied = [r for r in strict_plan.by_type(RECORD) if r.inputs["proxied"]]
    expected = {
        (host, family, SERVERS[server][family == "AAAA"])
        for host, server, family in product(HOSTNAMES, SERVERS, ("A", "AAAA"))
    }
    assert len(proxied) == len(expected) == 4 * 3 * 2
    assert {(r.inputs["name"], r.inputs["type"], r.inputs["content"]) for r in proxied} == expected
    for record in proxied:
        assert record.inputs["ttl"] == 1 and record.inputs["comment"] == COMMENT
        assert record.inputs["zoneId"] == fakes.ZONE_ID
        assert record.parent == dns.urn and record.provider.startswith(
            strict_plan.get("pulumi:providers:cloudflare", "cloudflare").urn
        )


def test_record_names_are_readable_and_deterministic(strict_plan: Plan) -> None:
    names = {r.name for r in strict_plan.by_type(RECORD) if r.inputs["proxied"]}
    assert "honeydue-edge-apex-a-honeydue-1" in names and "honeydue-edge-admin-aaaa-honeydue-3" in names
    assert names == {
        f"honeydue-edge-{label}-{family}-{server}"
        for label, family, server in product(("apex", "www", "api", "admin"), ("a", "aaaa"), SERVERS)
    }
    again = run_program("prod", program=edge_program())
    assert [(r.name, r.inputs) for r in again.by_type(RECORD)] == [
        (r.name, r.inputs) for r in strict_plan.by_type(RECORD)
    ]


def test_dns_only_api_record_when_configured(strict_plan: Plan) -> None:
    api = sorted((r for r in strict_plan.by_type(RECORD) if not r.inputs["proxied"]), key=lambda r: r.name)
    assert [r.name for r in api] == ["honeydue-edge-k8s-a-1", "honeydue-edge-k8s-a-2", "honeydue-edge-k8s-a-3"]
    assert [r.inputs["content"] for r in api] == [v4 for v4, _ in SERVERS.values()]
    for record in api:
        assert (record.inputs["name"], record.inputs["type"], record.inputs["ttl"]) == (API_DNS_NAME, "A", 300)
        assert record.inputs["proxied"] is False and record.inputs["comment"] == COMMENT


def test_each_proxied_record_waits_for_its_own_server_to_serve(strict_plan: Plan) -> None:
    serving = {
        r.name.removeprefix("serving-"): r.urn for r in strict_plan.registrations if r.name.startswith("serving-")
    }
    proxied = [r for r in strict_plan.by_type(RECORD) if r.inputs["proxied"]]
    assert proxied
    for record in proxied:
        server = record.name.rsplit("-", 2)[-2] + "-" + record.name.rsplit("-", 1)[-1]
        assert serving[server] in record.dependencies, record.name
        assert not set(serving.values()) - {serving[server]} & set(record.dependencies), record.name
    # The API name is dialled by the Kubernetes provider, which Traefik and the apps (what serving waits for)
    # need: its records must not wait for serving.
    for record in (r for r in strict_plan.by_type(RECORD) if not r.inputs["proxied"]):
        assert not set(serving.values()) & set(record.dependencies), record.name


def test_a_released_server_has_no_records_and_no_other_record_is_renamed(strict_plan: Plan) -> None:
    plan = run_program("prod", program=edge_program(withdrawn=frozenset({"honeydue-2"})))
    before = {r.name: r.inputs for r in strict_plan.by_type(RECORD)}
    after = {r.name: r.inputs for r in plan.by_type(RECORD)}
    gone = set(before) - set(after)
    assert gone == {n for n in before if n.endswith("-honeydue-2") or n == "honeydue-edge-k8s-a-2"}
    assert len(gone) == 4 * 2 + 1
    assert not set(after) - set(before)
    assert all(after[name] == before[name] for name in after)
    assert not {"203.0.113.12", "2001:db8:12::1"} & {inputs["content"] for inputs in after.values()}


def test_publish_refuses_a_server_without_a_serving_step() -> None:
    args = EdgeDnsArgs(zone_id="z", domain=DOMAIN, hostnames=(DOMAIN,), servers=[("honeydue-1", "192.0.2.1", "::1")])
    specs = dns_records("honeydue-edge", args)
    assert {s.server for s in specs} == {"honeydue-1"}

    def program() -> None:
        EdgeDns("honeydue-edge", args).publish({})

    with pytest.raises(Exception, match=r"no serving step for \['honeydue-1'\]"):
        run_program("prod", program=program)


def test_preview_registers_the_same_edge(strict_plan: Plan) -> None:
    preview = run_program("prod", preview=True, program=edge_program())
    assert [r.urn for r in preview.registrations] == [r.urn for r in strict_plan.registrations]


def test_no_api_record_without_an_api_name() -> None:
    plan = run_program("prod", program=edge_program(api_dns_name=None))
    records = plan.by_type(RECORD)
    assert len(records) == 24 and all(r.inputs["proxied"] for r in records)
    assert all(r.inputs["name"] != API_DNS_NAME for r in records)


def test_host_labels_and_args_are_checked() -> None:
    assert [host_label(h, DOMAIN) for h in (*HOSTNAMES, "a.b.honeydue.app")] == ["apex", "www", "api", "admin", "a-b"]
    for bad in ("honeydue.app.evil.com", "xhoneydue.app", ".honeydue.app"):
        with pytest.raises(ValueError, match="not under the zone"):
            host_label(bad, DOMAIN)
    base: dict[str, Any] = {"zone_id": "z", "domain": DOMAIN, "hostnames": HOSTNAMES, "servers": [("n", "1", "2")]}
    with pytest.raises(ValueError, match="both proxied and DNS-only"):
        EdgeDnsArgs(**base, api_dns_name=f"api.{DOMAIN}", api_addresses=["1"])
    with pytest.raises(ValueError, match="needs at least one address"):
        EdgeDnsArgs(**base, api_dns_name=API_DNS_NAME)
    with pytest.raises(ValueError, match="not under the zone"):
        EdgeDnsArgs(**{**base, "hostnames": ("example.org",)})
    args = EdgeDnsArgs(**base, api_dns_name=API_DNS_NAME, api_addresses=["1"])
    assert [(s.resource_name, s.proxied) for s in dns_records("e", args)][-1] == ("e-k8s-a-1", False)


# ------------------------------------------------------------------------------------------- zone


def record_invokes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any], str]]:
    calls: list[tuple[str, dict[str, Any], str]] = []
    original = PlanMocks.call

    def call(self: PlanMocks, args: pulumi.runtime.MockCallArgs) -> Any:
        calls.append((args.token, dict(args.args), args.provider))
        return original(self, args)

    monkeypatch.setattr(PlanMocks, "call", call)
    return calls


def test_zone_id_from_config_skips_the_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_invokes(monkeypatch)
    plan = run_program("prod", program=edge_program(zone_id=CONFIGURED_ZONE))
    assert {r.inputs["zoneId"] for r in plan.by_type(RECORD) + plan.by_type(SETTING)} == {CONFIGURED_ZONE}
    assert [c for c in calls if c[0] == "cloudflare:index/getZone:getZone"] == []


def test_zone_id_is_looked_up_by_the_domain_through_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_invokes(monkeypatch)
    plan = run_program("prod", program=edge_program(zone_id=None))
    lookups = [c for c in calls if c[0] == "cloudflare:index/getZone:getZone"]
    assert [args["filter"] for _, args, _ in lookups] == [{"name": DOMAIN}]
    provider = plan.get("pulumi:providers:cloudflare", "cloudflare")
    assert lookups[0][2] == f"{provider.urn}::{provider.id}"
    assert {r.inputs["zoneId"] for r in plan.by_type(RECORD) + plan.by_type(SETTING)} == {fakes.ZONE_ID}


# ------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("mode", ["flexible", "full", "strict"])
def test_zone_settings_in_each_mode(mode: SslMode) -> None:
    plan = run_program("prod", program=edge_program(ssl_mode=mode))
    tls_component = component(plan, "EdgeTls", "honeydue-edge")
    settings = {r.inputs["settingId"]: r for r in plan.by_type(SETTING)}
    assert {k: r.inputs["value"] for k, r in settings.items()} == {
        "ssl_automatic_mode": "custom",
        "0rtt": "off",
        "ssl": mode,
        "always_use_https": "on",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
    }
    assert {r.name for r in settings.values()} == {
        "honeydue-edge-ssl-automatic-mode", "honeydue-edge-0rtt", "honeydue-edge-ssl",
        "honeydue-edge-always-use-https", "honeydue-edge-min-tls-version", "honeydue-edge-tls-1-3",
    }  # fmt: skip
    assert all(r.parent == tls_component.urn for r in settings.values())
    # Issue 25 item 6: the mode is written only once Cloudflare's automatic mode is off, and tls_1_3 only once
    # 0-RTT is off (with it on, the API reads tls_1_3 as "zrt"); nothing else waits on another setting.
    ordered = {(a, b) for a in settings for b in settings if plan.waits_for(settings[b], settings[a])}
    assert ordered == {("ssl_automatic_mode", "ssl"), ("0rtt", "tls_1_3")}


def test_every_setting_value_is_a_string_so_an_update_always_carries_it() -> None:
    """pulumi-cloudflare#1319: an Update whose planned value equals the state's sends an empty PATCH (error 1007).
    The provider plans the value back to the state's when the two are only semantically equal (a list read back
    as a tuple, a number type: customfield/dynamic.go L242-L255) after the framework marked the computed fields
    unknown, so the engine updates without a value change. Strings read back as sent: no such plan."""
    modes: tuple[SslMode, ...] = ("flexible", "full", "strict")
    for mode in modes:
        assert all(isinstance(value, str) for value in zone_settings(mode).values())


def test_flipping_the_mode_changes_only_the_ssl_value_and_its_ordering(strict_plan: Plan) -> None:
    flexible = run_program("prod", program=edge_program(ssl_mode="flexible"))

    def inputs(plan: Plan) -> dict[str, Any]:
        return {r.urn: r.inputs for r in plan.registrations if r.type != SETTING or r.inputs["settingId"] != "ssl"}

    assert inputs(flexible) == inputs(strict_plan)
    assert flexible.get(SETTING, "honeydue-edge-ssl").inputs["value"] == "flexible"


def test_strict_settings_wait_for_the_origin_and_flexible_ones_do_not(strict_plan: Plan) -> None:
    served = strict_plan.get(KEY, "origin-served").urn
    for setting in strict_plan.by_type(SETTING):
        assert served in setting.dependencies, setting.name
    flexible = run_program("prod", program=edge_program(ssl_mode="flexible"))
    for setting in flexible.by_type(SETTING):
        assert flexible.get(KEY, "origin-served").urn not in setting.dependencies


def test_callers_can_order_after_the_ssl_setting(strict_plan: Plan) -> None:
    ssl = strict_plan.get(SETTING, "honeydue-edge-ssl")
    assert ssl.urn in strict_plan.get(KEY, "after-ssl").dependencies


# ------------------------------------------------------------------------------------------- Origin CA


def test_origin_certificate_covers_the_domain_and_its_wildcard(strict_plan: Plan) -> None:
    cert = strict_plan.get(CERT, "honeydue-origin-cert")
    # In the API's order (the wildcard first): the provider's Read writes that order back (test_scenarios).
    assert cert.inputs["hostnames"] == [f"*.{DOMAIN}", DOMAIN]
    assert cert.inputs["requestType"] == "origin-ecc" and cert.inputs["requestedValidity"] == 5475
    key = strict_plan.get(KEY, "honeydue-origin-key")
    assert (key.inputs["algorithm"], key.inputs["ecdsaCurve"]) == ("ECDSA", "P256")
    csr = strict_plan.get(CSR, "honeydue-origin-csr")
    assert csr.inputs["subject"] == {"commonName": DOMAIN} and csr.inputs["dnsNames"] == [f"*.{DOMAIN}", DOMAIN]
    assert cert.inputs["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert strict_plan.outputs["certificatePem"].startswith("-----BEGIN CERTIFICATE-----")
    parent = component(strict_plan, "OriginCertificate", "honeydue-origin").urn
    assert key.parent == csr.parent == cert.parent == parent


def test_validity_follows_the_args_and_is_checked() -> None:
    plan = run_program("prod", program=edge_program(validity_days=90))
    assert plan.get(CERT, "honeydue-origin-cert").inputs["requestedValidity"] == 90
    with pytest.raises(ValueError, match="not 100"):
        OriginCertificateArgs(domain=DOMAIN, validity_days=100)


def test_certificate_chain_dependencies(strict_plan: Plan) -> None:
    key = strict_plan.get(KEY, "honeydue-origin-key")
    csr = strict_plan.get(CSR, "honeydue-origin-csr")
    cert = strict_plan.get(CERT, "honeydue-origin-cert")
    assert key.urn in csr.dependencies
    assert csr.urn in cert.dependencies


def _plain_strings(value: Any) -> Iterator[str]:
    """Every string in `value` that is not inside a secret."""
    if isinstance(value, SecretValue):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _plain_strings(item)


def test_the_origin_private_key_is_only_ever_a_secret(strict_plan: Plan) -> None:
    key = strict_plan.get(KEY, "honeydue-origin-key")
    assert {"privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"} <= set(key.additional_secret_outputs)
    csr = strict_plan.get(CSR, "honeydue-origin-csr")
    assert isinstance(csr.inputs["privateKeyPem"], SecretValue)
    private = revealed(csr.inputs["privateKeyPem"])
    assert private.startswith("FAKE-PRIVATE-KEY-honeydue-origin-key") and private in strict_plan.known_secrets
    assert isinstance(strict_plan.outputs["privateKeyPem"], SecretValue)
    assert revealed(strict_plan.outputs["privateKeyPem"]) == private
    leaks = [
        (r.type, r.name)
        for r in strict_plan.registrations
        for text in _plain_strings(r.inputs)
        if any(secret in text for secret in strict_plan.known_secrets)
    ]
    assert leaks == []
    # The api token is no input at all (tests/test_program.py: no credential is a provider input).
    assert "apiToken" not in strict_plan.get("pulumi:providers:cloudflare", "cloudflare").inputs
