"""`__main__.py` as it is, under the mock engine: shape, providers, secrets, failure before creation."""

from __future__ import annotations

import json
import re

import pytest

from components.config.reader import ConfigError
from offline.harness import run_program
from offline.plan import revealed
from offline.records import Plan, plaintext_strings

COMPONENT_TYPE = re.compile(r"^honeydue:[a-z0-9]+:[A-Z][A-Za-z0-9]+$")


def test_components_follow_the_house_anatomy(prod_plan: Plan) -> None:
    components = [r for r in prod_plan.registrations if not r.custom]
    assert components, "the program creates no component"
    for component in components:
        assert COMPONENT_TYPE.match(component.type), component.type


def test_every_resource_lives_in_a_component_except_providers(prod_plan: Plan) -> None:
    by_urn = prod_plan.by_urn()
    for reg in prod_plan.registrations:
        if reg.custom and not reg.type.startswith("pulumi:providers:"):
            parent = by_urn.get(reg.parent)
            assert parent is not None and not parent.custom, f"{reg.type} {reg.name} has no component parent"


def test_every_resource_uses_an_explicit_provider(prod_plan: Plan) -> None:
    providers = {r.urn for r in prod_plan.registrations if r.type.startswith("pulumi:providers:")}
    for reg in prod_plan.registrations:
        if reg.custom and not reg.type.startswith("pulumi:providers:"):
            assert reg.provider, f"{reg.type} {reg.name} uses a default provider"
            # A provider reference is "<provider urn>::<provider id>".
            assert reg.provider.rsplit("::", 1)[0] in providers, f"{reg.type} {reg.name}: {reg.provider}"


# The credential inputs of the providers' schemas (pulumi-hcloud, pulumi-cloudflare, pulumi-command,
# pulumi-kubernetes provider config), by what they are called there.
CREDENTIAL_INPUTS = frozenset({"token", "apiToken", "apiKey", "apiUserServiceKey", "email", "password"})


def test_no_credential_is_a_provider_input(prod_plan: Plan) -> None:
    # Issue 22 item 2: a provider's inputs are written to the state, which a Stack Read token exports and a
    # `preview --refresh` without the program refreshes with. The tokens come from the environment.
    providers = [r for r in prod_plan.registrations if r.type.startswith("pulumi:providers:")]
    assert {"hcloud", "cloudflare"} <= {r.type.rsplit(":", 1)[1] for r in providers}
    for reg in providers:
        assert not CREDENTIAL_INPUTS & set(reg.inputs), f"{reg.name}: {sorted(CREDENTIAL_INPUTS & set(reg.inputs))}"
    # Nor is a token anywhere in any registration's inputs, secret-wrapped or not.
    tokens = [
        v
        for v, label in prod_plan.known_secrets.items()
        if label in ("secret:HCLOUD_TOKEN", "secret:CLOUDFLARE_API_TOKEN")
    ]
    assert len(tokens) == 2
    for reg in prod_plan.registrations:
        text = json.dumps(revealed(reg.inputs), default=str)
        assert not any(token in text for token in tokens), reg.name


def test_a_missing_provider_token_is_one_sentence_before_anything_is_created() -> None:
    plan = Plan(stack="prod", preview=True)
    with pytest.raises(ConfigError) as caught:
        run_program("prod", preview=True, into=plan, environ={"HCLOUD_TOKEN": None})
    assert caught.value.problems == [
        "HCLOUD_TOKEN (environment): is not set; the hcloud provider reads it (ESC: environmentVariables.HCLOUD_TOKEN)"
    ]
    assert [r.type for r in plan.registrations] == []


def test_no_secret_value_is_registered_in_plaintext(prod_plan: Plan) -> None:
    secrets = set(prod_plan.known_secrets)
    assert len(secrets) > 10  # config placeholders and every made-up private key
    for reg in prod_plan.registrations:
        for text in plaintext_strings(reg.inputs):
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{reg.type} {reg.name} holds {[prod_plan.known_secrets[s] for s in leaked]}"


def test_bad_config_fails_before_any_resource_is_registered() -> None:
    plan = Plan(stack="prod", preview=True)
    with pytest.raises(ConfigError) as caught:
        run_program("prod", {"serverCount": 2, "databaseUrl": None}, preview=True, into=plan)
    assert plan.registrations == []
    assert "honeydue:serverCount" in str(caught.value)
    assert "pulumi config set --secret honeydue:databaseUrl" in str(caught.value)


def test_outputs_hold_no_secret_in_plaintext(prod_plan: Plan) -> None:
    text = repr(prod_plan.outputs)
    assert not [s for s in prod_plan.known_secrets if s in text]
    assert prod_plan.outputs["k3sVersion"] == "v1.34.6+k3s1"
    assert set(prod_plan.outputs["nodes"]) == {"honeydue-1", "honeydue-2", "honeydue-3"}
    assert "deploySshPrivateKey" not in prod_plan.outputs  # a root credential, never an output


def test_private_keys_are_marked_secret_on_their_resources(prod_plan: Plan) -> None:
    for key in prod_plan.by_type("tls:index/privateKey:PrivateKey"):
        assert {"privateKeyOpenssh", "privateKeyPem"} <= set(key.additional_secret_outputs)


def test_preview_registers_the_same_resources_as_an_update(prod_plan: Plan) -> None:
    preview = run_program("prod", preview=True)
    assert [(r.type, r.name) for r in preview.registrations] == [(r.type, r.name) for r in prod_plan.registrations]


def test_two_evaluations_register_identical_inputs(prod_plan: Plan) -> None:
    again = run_program("prod")
    assert again.registrations == prod_plan.registrations
