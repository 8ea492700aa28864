"""Cloudflare in the whole program: SSL mode switches that never drop traffic, origin lockdown upkeep."""

from __future__ import annotations

from typing import Any

import pytest

from components.edge.origin_gate import ORIGIN_CA_ROOT, certificate_sha256
from offline import fakes
from offline.harness import run_program
from offline.records import Plan, SecretValue

ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
SECRET = "kubernetes:core/v1:Secret"
COMMAND = "command:remote:Command"


def test_strict_orders_certificate_then_tls_secret_then_traefik_and_ingress_then_ssl(strict_plan: Plan) -> None:
    cert = strict_plan.get("cloudflare:index/originCaCertificate:OriginCaCertificate", "honeydue-origin-cert")
    ssl = strict_plan.get(ZONE_SETTING, "honeydue-edge-tls-ssl")
    assert ssl.inputs["value"] == "strict"
    secrets = [strict_plan.get(SECRET, f"{ns}-secret-honeydue-origin-tls") for ns in ("honeydue", "kube-system")]
    traefik = strict_plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    https_ingress = strict_plan.get("kubernetes:networking.k8s.io/v1:Ingress", "honeydue-ingress-honeydue-tls")
    for secret in secrets:
        assert strict_plan.waits_for(secret, cert)
        assert isinstance(secret.inputs["stringData"], SecretValue)
        assert strict_plan.waits_for(ssl, secret)
    assert strict_plan.waits_for(ssl, traefik) and strict_plan.waits_for(ssl, https_ingress)
    assert strict_plan.waits_for(https_ingress, cert)
    assert "honeydue-origin-tls" in str(traefik.inputs["spec"])


def test_strict_switches_only_after_every_server_s_gate_found_the_certificate_served(strict_plan: Plan) -> None:
    """Issue 25 item 3: one gate step per server (the nodes DNS points at), after what serves the certificate and
    after that server's K3s converged; the ssl setting waits for all of them. What the step runs on the node is
    tests/test_origin_gate.py's."""
    ssl = strict_plan.get(ZONE_SETTING, "honeydue-edge-tls-ssl")
    cert = strict_plan.get("cloudflare:index/originCaCertificate:OriginCaCertificate", "honeydue-origin-cert")
    traefik = strict_plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    secrets = [strict_plan.get(SECRET, f"{ns}-secret-honeydue-origin-tls") for ns in ("honeydue", "kube-system")]
    gates = [r for r in strict_plan.by_type(COMMAND) if r.name.startswith("honeydue-origin-gate-")]
    servers = strict_plan.by_type("hcloud:index/server:Server")
    assert sorted(g.name for g in gates) == [f"honeydue-origin-gate-{i}" for i in (1, 2, 3)] and len(servers) == 3
    digest = certificate_sha256(strict_plan.resource_outputs[cert.urn][1]["certificate"])
    for index, step in enumerate(sorted(gates, key=lambda g: g.name), start=1):
        assert ssl.dependencies.count(step.urn) == 1
        assert all(step.urn in setting.dependencies for setting in strict_plan.by_type(ZONE_SETTING))
        converge = strict_plan.get(COMMAND, f"honeydue-k3s-{index}-converge")
        assert all(strict_plan.waits_for(step, r) for r in (traefik, *secrets, converge))
        # Checked again for a new certificate, a new mode, a new server; the fingerprint, never the key.
        server = strict_plan.get("hcloud:index/server:Server", f"honeydue-{index}")
        assert step.inputs["triggers"] == [digest, "strict", "optional", server.id, "serving"]
        text = step.inputs["create"]
        assert f"EXPECTED_SHA256={digest}" in text and f"NODE_NAME=honeydue-{index}" in text
        assert "HOSTNAMES='honeydue.app www.honeydue.app api.honeydue.app admin.honeydue.app'" in text
        assert "PRIVATE KEY" not in text and ORIGIN_CA_ROOT.read_text().split("-----BEGIN")[1] in text
        assert not step.ignore_changes


def test_flexible_switches_cloudflare_first_and_serves_no_certificate(prod_plan: Plan) -> None:
    ssl = prod_plan.get(ZONE_SETTING, "honeydue-edge-tls-ssl")
    assert ssl.inputs["value"] == "flexible"
    assert prod_plan.by_type("cloudflare:index/originCaCertificate:OriginCaCertificate") == []
    traefik = prod_plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    ingress = prod_plan.get("kubernetes:networking.k8s.io/v1:Ingress", "honeydue-ingress-honeydue")
    assert prod_plan.waits_for(traefik, ssl) and prod_plan.waits_for(ingress, ssl)
    # The wait after the PATCH, before the origin stops serving HTTPS, in every flexible program: it runs whenever
    # the setting was written (its modified_on), whatever the stack's outputs say of the last `up`.
    (settle,) = prod_plan.by_type("command:local:Command")
    assert settle.name == "honeydue-edge-tls-settle" and prod_plan.waits_for(traefik, settle)
    assert settle.inputs["triggers"] == [prod_plan.resource_outputs[ssl.urn][1]["modifiedOn"]]
    assert not [r for r in prod_plan.by_type(SECRET) if "origin-tls" in r.name]
    assert not [r for r in prod_plan.registrations if "origin-gate" in r.name]  # nothing to check in HTTP


def _inputs(plan: Plan) -> dict[str, Any]:
    return {r.urn.rsplit("::", 1)[1]: {k: v for k, v in r.inputs.items() if k not in r.ignore_changes}
            for r in plan.registrations}  # fmt: skip


def test_flipping_the_mode_changes_only_what_it_must(prod_plan: Plan, strict_plan: Plan) -> None:
    flexible, strict = _inputs(prod_plan), _inputs(strict_plan)
    added = sorted(set(strict) - set(flexible))
    changed = sorted(name for name in set(strict) & set(flexible) if strict[name] != flexible[name])
    # Only flexible's wait after the `ssl` PATCH is not in strict (nothing to wait for before serving more).
    assert set(flexible) - set(strict) == {"honeydue-edge-tls-settle"}
    assert added == sorted(
        [
            "honeydue-origin", "honeydue-origin-cert", "honeydue-origin-csr", "honeydue-origin-key",
            "honeydue-secret-honeydue-origin-tls", "kube-system-secret-honeydue-origin-tls",
            "honeydue-ingress-honeydue-tls",
            "honeydue-origin-gate", "honeydue-origin-gate-1", "honeydue-origin-gate-2", "honeydue-origin-gate-3",
            # Authenticated Origin Pulls: our CA, the client certificate Cloudflare presents and its upload, the
            # gate's probe, the wait for the upload to be deployed, the CA Secret Traefik verifies against.
            "honeydue-origin-pulls-ca-key", "honeydue-origin-pulls-ca", "honeydue-origin-pulls-client-key",
            "honeydue-origin-pulls-client-csr", "honeydue-origin-pulls-client-cert", "honeydue-origin-pulls-probe-key",
            "honeydue-origin-pulls-probe-csr", "honeydue-origin-pulls-probe-cert", "honeydue-origin-pulls-certificate",
            "honeydue-origin-pulls-active", "kube-system-secret-honeydue-origin-pull-ca",
            # The route whose access log shows the client certificate Cloudflare presents (phase 1's evidence).
            "honeydue-ingress-honeydue-origin-pull-probe",
        ]
    )  # fmt: skip
    # The zone's origin-pulls setting exists in both modes: on in strict, off in flexible.
    assert changed == [
        "honeydue-edge-tls-ssl", "honeydue-origin-pulls-settings", "kube-system-helmchartconfig-traefik",
    ]  # fmt: skip


def test_in_strict_a_server_s_records_wait_for_its_gate(strict_plan: Plan) -> None:
    """Review item 4: a new, replaced or returning server gets records only once it serves the certificate."""
    records = [r for r in strict_plan.by_type("cloudflare:index/dnsRecord:DnsRecord") if r.inputs["proxied"]]
    for index in (1, 2, 3):
        gate, serving = (strict_plan.get(COMMAND, f"honeydue-{step}-{index}") for step in ("origin-gate", "serving"))
        own = [r for r in records if r.name.endswith(f"-honeydue-{index}")]
        assert len(own) == 8 and all({gate.urn, serving.urn} <= set(r.dependencies) for r in own)


def test_both_modes_have_the_dns_records_and_hardened_settings(prod_plan: Plan, strict_plan: Plan) -> None:
    for plan in (prod_plan, strict_plan):
        records = plan.by_type("cloudflare:index/dnsRecord:DnsRecord")
        proxied = [r for r in records if r.inputs["proxied"]]
        assert len(proxied) == 4 * 2 * 3  # hostnames × families × servers
        assert all(r.inputs["ttl"] == 1 for r in proxied)
        values = {r.inputs["settingId"]: r.inputs["value"] for r in plan.by_type(ZONE_SETTING)}
        assert values["always_use_https"] == "on" and values["min_tls_version"] == "1.2" and values["tls_1_3"] == "on"
        assert values["ssl_automatic_mode"] == "custom" and values["0rtt"] == "off"


def test_new_cloudflare_ranges_reapply_the_firewall_without_touching_a_server(
    prod_plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fakes, "CLOUDFLARE_ETAG", "offline-plan-etag-2")
    after = run_program("prod")
    before_inputs, after_inputs = _inputs(prod_plan), _inputs(after)
    changed = sorted(name for name in before_inputs if before_inputs[name] != after_inputs[name])
    assert changed == [f"honeydue-firewall-sync-{i}" for i in (1, 2, 3)]
    for i in (1, 2, 3):
        server_id = after.get("hcloud:index/server:Server", f"honeydue-{i}").id
        # The etag, and the node's own server (a new server re-runs it there).
        assert after.get("command:remote:Command", f"honeydue-firewall-sync-{i}").inputs["triggers"] == [
            "offline-plan-etag-2",
            server_id,
        ]
