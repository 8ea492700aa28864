"""The client address an app receives, end to end: Cloudflare → Traefik's forwarded headers → the entrypoint's
middlewares → the proxy, for visitors and for peers that talk to Traefik directly.

Driven by what the program renders for prod (the HelmChartConfig's values and the Middleware objects) through
the model of tests/edge_chain.py, which cites each upstream rule (Cloudflare's documentation, Traefik v3.6.10,
Go's net/http) and says what it leaves out. The controls take a piece of the program away and show the forgery
getting through, so a pass here depends on that piece.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s.client_ip import CLIENT_IP_HEADER, STRIPPED, client_ip_middlewares
from components.k8s.traefik_values import traefik_values
from offline.records import Plan
from tests.edge_chain import Request, Traefik, direct, visitor_through_cloudflare

FORGED = {
    "X-Real-IP": "198.51.100.66",
    "CF-Connecting-IP": "198.51.100.67",
    "X-Forwarded-For": "198.51.100.68",
    "True-Client-IP": "198.51.100.69",
    "Forwarded": "for=198.51.100.70",
    "X-Client-IP": "198.51.100.71",
    # Not an address, but as forgeable: a reset link built from it would point at the visitor's own site.
    "X-Forwarded-Host": "evil.example",
}
VISITORS = [("203.0.113.7", "162.158.1.20"), ("2001:db8::7", "2a06:98c0::20")]
"""(visitor, the Cloudflare edge address that connects to the node), IPv4 and IPv6."""
OUTSIDERS = {
    "a pod on the node": "10.42.0.15",
    "a pod on another node (masqueraded to its node)": "10.0.1.2",
    "anyone on the internet (originLockdown off)": "198.51.100.9",
    "an IPv6 host outside Cloudflare": "2001:db8:ffff::9",
}
ENTRYPOINTS = ("web", "websecure")
CHAIN_HEADERS = {name.lower() for name in STRIPPED}


def _rendered(plan: Plan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    chart = plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    middlewares = [
        {"metadata": r.inputs["metadata"], "spec": r.inputs["spec"]}
        for r in plan.by_type("kubernetes:traefik.io/v1alpha1:Middleware")
    ]
    return yaml.safe_load(chart.inputs["spec"]["valuesContent"]), middlewares


@pytest.fixture(scope="module")
def traefik(prod_plan: Plan) -> Traefik:
    return Traefik(*_rendered(prod_plan))


def _lower(headers: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name.lower(): values for name, values in headers.items()}


@pytest.mark.parametrize("entrypoint", ENTRYPOINTS)
@pytest.mark.parametrize(("visitor", "edge"), VISITORS, ids=["ipv4", "ipv6"])
def test_a_visitor_through_cloudflare_is_known_by_cf_connecting_ip_only(
    traefik: Traefik, entrypoint: str, visitor: str, edge: str
) -> None:
    outcome = traefik.serve(entrypoint, visitor_through_cloudflare(visitor, edge, FORGED, https=True))
    assert outcome.status == 200
    seen = _lower(outcome.headers)
    assert seen["cf-connecting-ip"] == [visitor]
    # Nothing else an app could take for the client address arrives: the forged copies, the edge's own address
    # in X-Real-Ip, the visitor's own text in X-Forwarded-For's left part.
    assert not CHAIN_HEADERS & set(seen), CHAIN_HEADERS & set(seen)
    assert not any(forged in str(seen) for forged in FORGED.values())
    assert seen["x-forwarded-proto"] == ["https"]  # kept from Cloudflare: it is trusted for X-Forwarded-*


@pytest.mark.parametrize("entrypoint", ENTRYPOINTS)
@pytest.mark.parametrize("peer", list(OUTSIDERS.values()), ids=list(OUTSIDERS))
def test_a_peer_outside_cloudflare_never_reaches_an_app(traefik: Traefik, entrypoint: str, peer: str) -> None:
    """Whatever it sends, a forged CF-Connecting-IP included: 403 before any router's service."""
    assert traefik.serve(entrypoint, direct(peer, FORGED, tls=entrypoint == "websecure")).status == 403
    assert traefik.serve(entrypoint, direct(peer, {})).status == 403


def test_the_node_itself_is_answered_without_a_client_address(traefik: Traefik) -> None:
    """`kubectl port-forward` (make smoke) arrives from loopback: served, and no header names a client."""
    for peer in ("127.0.0.1", "::1"):
        outcome = traefik.serve("web", direct(peer, {}))
        assert outcome.status == 200
        seen = _lower(outcome.headers)
        assert "cf-connecting-ip" not in seen and not CHAIN_HEADERS & set(seen)


def test_what_is_left_open_the_node_itself_and_anything_from_cloudflare_s_ranges(traefik: Traefik) -> None:
    """The trust boundary, stated as a test so moving it is seen: a process in the node's own network namespace,
    and any sender from Cloudflare's ranges that is not our zone's proxy (another account's zone or Worker, in
    Flexible mode: issue 25 item 2's Authenticated Origin Pulls close it), can set CF-Connecting-IP."""
    for request in (direct("127.0.0.1", FORGED), direct("162.158.1.20", FORGED)):
        outcome = traefik.serve("web", request)
        assert outcome.status == 200
        assert _lower(outcome.headers)["cf-connecting-ip"] == [FORGED["CF-Connecting-IP"]]


def test_the_app_team_s_doc_names_the_header_and_every_deleted_one() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "client-ip.md").read_text(encoding="utf-8").lower()
    assert f"the visitor's address is the `{CLIENT_IP_HEADER.lower()}` request header" in doc
    assert not [name for name in STRIPPED if f"`{name.lower()}`" not in doc]
    assert CLIENT_IP_HEADER.lower() not in CHAIN_HEADERS


# --- controls: each piece taken away lets a forgery through -------------------------------------------------


def _built(cidrs: tuple[str, ...] = ("162.158.0.0/15", "2a06:98c0::/29")) -> tuple[dict[str, Any], list[Any]]:
    return traefik_values(cidrs, None, ingress_hostname="honeydue.app"), client_ip_middlewares(cidrs)


def _serve(values: dict[str, Any], middlewares: list[Any], request: Request) -> dict[str, list[str]]:
    outcome = Traefik(values, middlewares).serve("web", request)
    assert outcome.status == 200
    return _lower(outcome.headers)


def test_control_without_the_middlewares_the_defaults_are_what_issue_25_found() -> None:
    values, middlewares = _built()
    for port in ENTRYPOINTS:
        del values["ports"][port]["http"]
    via_cloudflare = _serve(
        values, middlewares, visitor_through_cloudflare("203.0.113.7", "162.158.1.20", FORGED, https=True)
    )
    assert via_cloudflare["x-real-ip"] == ["162.158.1.20"]  # the edge, not the visitor
    assert via_cloudflare["x-forwarded-for"][0].startswith(FORGED["X-Forwarded-For"])  # the visitor's own text
    assert via_cloudflare["true-client-ip"] == [FORGED["True-Client-IP"]]
    assert via_cloudflare["x-forwarded-host"] == [FORGED["X-Forwarded-Host"]]  # kept from a trusted peer
    from_a_pod = _serve(values, middlewares, direct("10.42.0.15", FORGED))
    assert from_a_pod["cf-connecting-ip"] == [FORGED["CF-Connecting-IP"]]  # forged, reaches the app
    assert from_a_pod["x-real-ip"] == ["10.42.0.15"]  # Traefik's own rule holds for its fixed list only


def test_control_without_the_allowlist_a_pod_forges_the_address() -> None:
    values, middlewares = _built()
    for port in ENTRYPOINTS:
        values["ports"][port]["http"]["middlewares"] = values["ports"][port]["http"]["middlewares"][1:]
    assert _serve(values, middlewares, direct("10.42.0.15", FORGED))["cf-connecting-ip"] == ["198.51.100.67"]


def test_control_x_forwarded_for_must_be_spelt_exactly_or_the_proxy_writes_the_edge_into_it() -> None:
    values, middlewares = _built()
    broken = copy.deepcopy(middlewares)
    headers = broken[1]["spec"]["headers"]["customRequestHeaders"]
    headers["x-forwarded-for"] = headers.pop("X-Forwarded-For")
    seen = _serve(values, broken, visitor_through_cloudflare("203.0.113.7", "162.158.1.20", {}, https=True))
    assert seen["x-forwarded-for"] == ["162.158.1.20"]
    assert "x-forwarded-for" not in _serve(
        values, middlewares, visitor_through_cloudflare("203.0.113.7", "162.158.1.20", {}, https=True)
    )


def test_control_a_missing_middleware_object_breaks_every_route() -> None:
    values, middlewares = _built()
    request = visitor_through_cloudflare("203.0.113.7", "162.158.1.20", {}, https=True)
    assert Traefik(values, middlewares[1:]).serve("web", request).status == 404
    assert Traefik(values, middlewares).serve("web", request).status == 200
