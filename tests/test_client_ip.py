"""The client-address Middlewares and the entrypoint values that run them (components/k8s/client_ip.py), pure:
their shape, the chart keys they use, Traefik's Middleware CRD schema, and their order in the program."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.k8s.client_ip import (
    CLIENT_IP_HEADER,
    EDGE_ONLY,
    ENTRYPOINT_MIDDLEWARES,
    LOOPBACK,
    NAMESPACE,
    STRIP,
    STRIPPED,
    client_ip_middlewares,
    middleware_ref,
    trusted_networks,
)
from components.k8s.traefik_values import TRAEFIK_NAMESPACE, traefik_values
from offline.records import Plan
from tests.edge_chain import canonical
from tests.traefik_crd import crd_problems

CLOUDFLARE = ("2400:cb00::/32", "173.245.48.0/20", "103.21.244.0/22", "173.245.48.0/20")
# traefik-helm-chart v39.0.5 values.schema.json: `ports.<name>` and its `http` (additionalProperties: false on
# the port), the keys K3s v1.34.6's chart 39.0.501+up39.0.5 takes.
CHART_PORT_KEYS = {"allowACMEByPass", "appProtocol", "asDefault", "containerPort", "expose", "exposedPort",
                   "forwardedHeaders", "hostIP", "hostPort", "http", "http3", "nodePort", "observability", "port",
                   "protocol", "proxyProtocol", "targetPort", "transport"}  # fmt: skip
CHART_PORT_HTTP_KEYS = {"encodedCharacters", "maxHeaderBytes", "middlewares", "redirections", "sanitizePath", "tls"}


def _by_name(middlewares: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in middlewares}


def test_only_cloudflare_and_the_node_s_loopback_are_answered() -> None:
    allow = _by_name(client_ip_middlewares(CLOUDFLARE))[EDGE_ONLY]["spec"]
    # Sorted, without repeats, IPv4 first; no ipStrategy (the TCP peer) and the default 403.
    assert allow == {
        "ipAllowList": {"sourceRange": ["103.21.244.0/22", "173.245.48.0/20", "2400:cb00::/32", *LOOPBACK]}
    }


def test_every_other_client_address_header_is_deleted_and_cf_connecting_ip_kept() -> None:
    headers = _by_name(client_ip_middlewares(CLOUDFLARE))[STRIP]["spec"]["headers"]
    assert set(headers) == {"customRequestHeaders"}
    custom = headers["customRequestHeaders"]
    assert custom == dict.fromkeys(STRIPPED, "") and len(custom) >= 10
    # Header.Del canonicalises, but Traefik nils X-Forwarded-For only for this exact spelling (header.go L122).
    assert all(canonical(name) == name for name in custom) and "X-Forwarded-For" in custom
    assert {"X-Real-Ip", "True-Client-Ip", "Forwarded"} <= set(custom)
    assert canonical(CLIENT_IP_HEADER) not in custom


def test_a_reordered_or_repeated_range_list_renders_the_same() -> None:
    assert client_ip_middlewares(CLOUDFLARE) == client_ip_middlewares(tuple(reversed(sorted(set(CLOUDFLARE)))))


@pytest.mark.parametrize(("cidrs", "message"), [((), "no Cloudflare ranges"), (("10.0.0.0/33",), "'10.0.0.0/33'")])
def test_bad_ranges_are_refused_naming_the_value(cidrs: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trusted_networks(cidrs)
    with pytest.raises(ValueError, match=message):
        client_ip_middlewares(cidrs)


def test_both_entrypoints_run_both_middlewares_refusal_first() -> None:
    values = traefik_values(CLOUDFLARE, None, ingress_hostname="honeydue.app")
    names = {middleware_ref(m["metadata"]["name"]) for m in client_ip_middlewares(CLOUDFLARE)}
    assert (f"kube-system-{EDGE_ONLY}@kubernetescrd", f"kube-system-{STRIP}@kubernetescrd") == ENTRYPOINT_MIDDLEWARES
    assert set(ENTRYPOINT_MIDDLEWARES) == names and NAMESPACE == TRAEFIK_NAMESPACE
    allowed = _by_name(client_ip_middlewares(CLOUDFLARE))[EDGE_ONLY]["spec"]["ipAllowList"]["sourceRange"]
    for port in ("web", "websecure"):
        entry = values["ports"][port]
        assert entry["http"] == {"middlewares": list(ENTRYPOINT_MIDDLEWARES)}
        assert entry["forwardedHeaders"]["trustedIPs"] + list(LOOPBACK) == allowed
        assert set(entry) <= CHART_PORT_KEYS and set(entry["http"]) <= CHART_PORT_HTTP_KEYS


# --- Traefik's Middleware CRD (the schema the API server checks them against) -------------------------------


def test_the_middlewares_validate_against_traefik_s_crd() -> None:
    for manifest in client_ip_middlewares(CLOUDFLARE):
        assert manifest["apiVersion"] == "traefik.io/v1alpha1" and manifest["kind"] == "Middleware"
        assert crd_problems(manifest) == []


def test_control_the_crd_check_refuses_a_misspelt_field_and_a_wrong_type() -> None:
    allow, strip = client_ip_middlewares(CLOUDFLARE)
    allow["spec"]["ipAllowList"]["sourceRanges"] = allow["spec"]["ipAllowList"].pop("sourceRange")
    strip["spec"]["headers"]["customRequestHeaders"] = ["X-Real-Ip"]
    assert crd_problems(allow) == [".spec.ipAllowList.sourceRanges"]
    assert crd_problems(strip)


# --- in the program -----------------------------------------------------------------------------------------


def test_the_program_creates_the_middlewares_before_the_helm_chart_config(prod_plan: Plan) -> None:
    chart = prod_plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    middlewares = prod_plan.by_type("kubernetes:traefik.io/v1alpha1:Middleware")
    assert sorted(m.name for m in middlewares) == [f"kube-system-middleware-{n}" for n in sorted((EDGE_ONLY, STRIP))]
    for middleware in middlewares:
        assert prod_plan.waits_for(chart, middleware), middleware.name
        assert middleware.parent == chart.parent and middleware.provider == chart.provider
    values = yaml.safe_load(chart.inputs["spec"]["valuesContent"])
    allow = next(m for m in middlewares if m.name.endswith(EDGE_ONLY)).inputs["spec"]["ipAllowList"]
    assert allow["sourceRange"] == values["ports"]["web"]["forwardedHeaders"]["trustedIPs"] + list(LOOPBACK)
    assert len(allow["sourceRange"]) == 15 + 7 + len(LOOPBACK)  # the offline world's Cloudflare ranges
