"""The stack outputs are a contract: names, shapes and secrecy locked, and documented in docs/outputs.md."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from offline.harness import run_program
from offline.records import Plan, SecretValue
from offline.stack_config import PROJECT_DIR


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
    "appNamespace": (lambda v: v == "honeydue", False),
    # A read-only ServiceAccount token of the apps' namespace: the one secret output.
    "appKubeconfig": (lambda v: isinstance(v, str) and "namespace: 'honeydue'" in v and "token:" in v, True),
    "publicHostnames": (lambda v: isinstance(v, list) and all(isinstance(h, str) for h in v) and len(v) == 4, False),
    "cloudflareZoneId": (lambda v: isinstance(v, str) and len(v) == 32, False),
    "hetznerNetworkId": (lambda v: isinstance(v, str) and v.isdigit(), False),
    "k3sVersion": (lambda v: v == "v1.34.6+k3s1", False),
    "k3sGenesis": (lambda v: isinstance(v, str) and v, False),
    "k3sTokenSource": (lambda v: v == "random", False),
    "adoptedNodes": (lambda v: v == [], False),
    "deployKeyGeneration": (lambda v: v == 1, False),
    "originPulls": (lambda v: v == "off", False),
}


def test_outputs_have_exactly_the_contracted_names_shapes_and_secrecy(prod_plan: Plan) -> None:
    assert set(prod_plan.outputs) == set(CONTRACT)
    for name, (shape, secret) in CONTRACT.items():
        value = prod_plan.outputs[name]
        assert isinstance(value, SecretValue) == secret, f"{name}: secret should be {secret}"
        plain = value.value if isinstance(value, SecretValue) else value
        assert shape(plain), f"{name} has the wrong shape: {plain!r}"


# What a root credential looks like in a value, whatever its shape: a key, a kubeconfig user, a token.
CREDENTIAL_MARKERS = ("PRIVATE KEY", "client-key-data", "client-certificate-data", "token:", "users:")
# The offline world's labels of the credentials it made up (offline/fakes.py).
CREDENTIAL_LABELS = ("private key of", "deployer token", "cluster-admin", "random value of")


def _strings(value: Any) -> list[str]:
    if isinstance(value, SecretValue):
        return _strings(value.value)
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


NAMESPACE_CREDENTIAL = "appKubeconfig"


@pytest.mark.parametrize("overrides", [{}, {"sslMode": "strict"}, {"agentCount": 1}], ids=["prod", "strict", "agents"])
def test_no_output_holds_a_private_key_or_an_admin_credential(overrides: dict[str, Any]) -> None:
    """Not even as a secret: a StackReference hands secrets on to every consumer (issue 13, item 5). The
    one credential, appKubeconfig, is the namespace-scoped read-only token and nothing else."""
    plan = run_program("prod", overrides)
    credentials = [s for s, label in plan.known_secrets.items() if label.startswith(CREDENTIAL_LABELS)]
    assert any(label.startswith("private key of") for label in plan.known_secrets.values())  # the control
    assert any(label.startswith("deployer token") for label in plan.known_secrets.values())
    for name, value in plan.outputs.items():
        assert isinstance(value, SecretValue) == (name == NAMESPACE_CREDENTIAL), name
        for text in _strings(value):
            assert not [c for c in credentials if c in text], f"{name} holds a made-up root credential"
            if name != NAMESPACE_CREDENTIAL:
                assert not [m for m in CREDENTIAL_MARKERS if m in text], f"{name} looks like a credential"
    assert not {"kubeconfig", "deploySshPrivateKey"} & set(plan.outputs)
    kubeconfig = yaml.safe_load(plan.outputs[NAMESPACE_CREDENTIAL].value)
    (user,) = kubeconfig["users"]
    assert set(user["user"]) == {"token"}
    assert plan.known_secrets[user["user"]["token"]] == "namespace token of honeydue-secret-honeydue-consumer-token"


def test_the_namespace_credential_can_only_read_its_namespace(prod_plan: Plan) -> None:
    # The app layer's bindings (the CSI driver and kured bring their own, for their own ServiceAccounts).
    bindings = [
        r
        for r in prod_plan.registrations
        if r.type.startswith("kubernetes:rbac.authorization.k8s.io/") and r.parent.endswith("::honeydue-apps")
    ]
    assert [(r.type.rsplit(":", 1)[1], r.inputs["metadata"]["namespace"]) for r in bindings] == [
        ("RoleBinding", "honeydue")
    ]
    (binding,) = bindings
    assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "honeydue-consumer", "namespace": "honeydue"}
    ]
    kubeconfig = yaml.safe_load(prod_plan.outputs[NAMESPACE_CREDENTIAL].value)
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "honeydue"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == prod_plan.outputs["apiServerUrl"]


def test_the_credential_check_catches_a_key_and_a_kubeconfig(prod_plan: Plan) -> None:
    """The control of the test above: the same checks flag what the old outputs held."""
    key = next(s for s, label in prod_plan.known_secrets.items() if label == "private key of honeydue-deploy")
    old_kubeconfig = prod_plan.get("pulumi:providers:kubernetes", "honeydue-k3s-k8s").inputs["kubeconfig"]
    credentials = [s for s, label in prod_plan.known_secrets.items() if label.startswith(CREDENTIAL_LABELS)]
    for value in (SecretValue(key), old_kubeconfig):
        assert any(c in text for text in _strings(value) for c in credentials)
    assert any(m in text for text in _strings(old_kubeconfig) for m in CREDENTIAL_MARKERS)


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


def test_the_documented_consumer_program_reads_every_output_under_the_mock_runtime(prod_plan: Plan) -> None:
    # Issue 24 item 7: docs/outputs.md's example, as written, against this stack's outputs (the StackReference
    # serves them), then every documented output required by name, with its documented kind.
    import pulumi

    from offline.records import served_outputs

    doc = (PROJECT_DIR / "docs" / "outputs.md").read_text()
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    names = re.findall(r"^\| `(\w+)` \|", doc, re.M)
    seen: dict[str, object] = {}

    def consumer() -> None:
        exec(compile(example, "docs/outputs.md", "exec"), {"__name__": "__main__"})
        infra = pulumi.StackReference("consumer-view")
        for name in names:

            def record(value: object, name: str = name) -> None:
                seen[name] = value

            infra.require_output(name).apply(record)

    plan = run_program("prod", program=consumer, previous_outputs=served_outputs(prod_plan.outputs))
    assert plan.outputs["apiUrl"] == prod_plan.outputs["apiServerUrl"]
    assert set(seen) == set(names) == set(CONTRACT)
    assert isinstance(seen["hetznerNetworkId"], str) and isinstance(seen["nodes"], dict)


def test_the_documented_api_reach_is_the_firewall_s() -> None:
    # Issue 24 item 7: docs/outputs.md tells a consumer that 6443 answers adminCidrs and deployerCidrs only;
    # the rule model is the judge (the node firewall and the Hetzner firewall are both rendered from it).
    from components.firewall.node_rules import node_firewall_rules
    from tests.test_firewall_rules import policy

    rules = policy()
    public = {
        source
        for rule in node_firewall_rules(rules)
        if not rule.routed and rule.port_label() == "6443" and not rule.interface  # any NIC: the public one too
        for source in rule.sources
    }
    assert public == set(rules.admin_cidrs + rules.deployer_cidrs)
    text = (PROJECT_DIR / "docs" / "outputs.md").read_text(encoding="utf-8")
    assert "port 6443) answers only `adminCidrs` and `deployerCidrs`" in text
    assert "Stack Read" in text and "stack:decrypt" in text


def test_the_contract_names_are_prod_s_outputs() -> None:
    from components.contract import CONTRACT_OUTPUTS

    assert sorted(CONTRACT_OUTPUTS) == sorted(CONTRACT)


def test_the_outputs_stack_holds_the_contract_and_nothing_else(prod_plan: Plan) -> None:
    # Issue 22 item 4: consumers read `<org>/honeydue-outputs/prod`, whose state is one StackReference to prod
    # and the contract re-exported (secrets stay secrets), never prod's state.
    program = PROJECT_DIR / "outputs-stack" / "__main__.py"
    plan = run_program("prod", program=program, previous_outputs=prod_plan.outputs)  # secrets as the backend marks them
    assert plan.registrations == [], "nothing but the StackReference (a read, which the harness does not record)"
    source = (PROJECT_DIR / "outputs-stack" / "__main__.py").read_text()
    assert 'pulumi.StackReference(f"{pulumi.get_organization()}/honeydue/{pulumi.get_stack()}")' in source
    assert set(plan.outputs) == set(CONTRACT)
    for name in CONTRACT:
        assert plan.outputs[name] == prod_plan.outputs[name], name
    assert isinstance(plan.outputs["appKubeconfig"], SecretValue)
    project = yaml.safe_load((PROJECT_DIR / "outputs-stack" / "Pulumi.yaml").read_text())
    assert project["name"] == "honeydue-outputs" and project["runtime"]["options"]["virtualenv"] == "../venv"
