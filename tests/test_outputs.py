"""The stack outputs are a contract: names, shapes and secrecy locked, and documented in docs/outputs.md."""

from __future__ import annotations

import re
from typing import Any

from offline.harness import PROJECT_DIR, Plan, SecretValue, run_program


def _addresses(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(n, dict) and set(n) == {"ipv4", "ipv6", "privateIp"} and all(isinstance(a, str) for a in n.values())
        for n in v.values()
    )


# name -> (check of the value's shape, secret?)
CONTRACT: dict[str, tuple[Any, bool]] = {
    "nodes": (lambda v: _addresses(v) and v, False),
    # Always present, empty without agents (prod today), so a consumer can require it.
    "agents": (_addresses, False),
    "apiServerUrl": (lambda v: isinstance(v, str) and re.fullmatch(r"https://[^/]+:6443", v), False),
    "kubeconfig": (lambda v: isinstance(v, str) and "clusters:" in v, True),
    "appNamespace": (lambda v: v == "honeydue", False),
    "publicHostnames": (lambda v: isinstance(v, list) and all(isinstance(h, str) for h in v) and len(v) == 4, False),
    "cloudflareZoneId": (lambda v: isinstance(v, str) and len(v) == 32, False),
    "hetznerNetworkId": (lambda v: isinstance(v, int) and not isinstance(v, bool), False),
    "k3sVersion": (lambda v: v == "v1.34.6+k3s1", False),
    "k3sTokenSource": (lambda v: v == "random", False),
    "deploySshPrivateKey": (lambda v: isinstance(v, str) and v, True),
}


def test_outputs_have_exactly_the_contracted_names_shapes_and_secrecy(prod_plan: Plan) -> None:
    assert set(prod_plan.outputs) == set(CONTRACT)
    for name, (shape, secret) in CONTRACT.items():
        value = prod_plan.outputs[name]
        assert isinstance(value, SecretValue) == secret, f"{name}: secret should be {secret}"
        plain = value.value if isinstance(value, SecretValue) else value
        assert shape(plain), f"{name} has the wrong shape: {plain!r}"


def test_docs_describe_every_output_and_its_secrecy() -> None:
    doc = (PROJECT_DIR / "docs" / "outputs.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \|[^|]*\| (\*\*yes\*\*|no) \|", doc, re.M)}
    assert set(rows) == set(CONTRACT)
    for name, (_, secret) in CONTRACT.items():
        assert (rows[name] == "**yes**") == secret, name


def test_agents_are_their_own_output_and_never_in_nodes() -> None:
    plan = run_program("prod", {"agentCount": 2})
    assert set(plan.outputs["nodes"]) == {"honeydue-1", "honeydue-2", "honeydue-3"}
    assert set(plan.outputs["agents"]) == {"honeydue-agent-1", "honeydue-agent-2"}
    assert _addresses(plan.outputs["agents"])
    assert [a["privateIp"] for a in plan.outputs["agents"].values()] == ["10.0.1.11", "10.0.1.12"]


def test_prod_has_no_agents(prod_plan: Plan) -> None:
    assert prod_plan.outputs["agents"] == {}
