"""Adopting the hand-built production: every adoptable resource can be imported, and nothing else."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from components.adoption import ADOPTABLE_TYPES, adoptable_names, held_fields
from components.config.reader import ConfigError
from components.hetzner.nodes import ADOPTED_DIAL_ERROR_LIMIT
from offline.adoption_world import CREATED_BEFORE, RUNNING_TOKEN, SERVERS, adopt_overrides, deploy_key_first, host_key
from offline.adoption_world import adoptable as _adoptable
from offline.engine_diff import diff_plans
from offline.fakes import fake_ed25519_public_key, outputs_for
from offline.harness import run_program
from offline.records import Plan, Registration, SecretValue, plaintext_strings
from tests.conftest import load_prod


@pytest.mark.parametrize(
    "overrides",
    [{"sslMode": "flexible"}, {"sslMode": "strict"}, {"agentCount": 2}, {"agentCount": 11, "sslMode": "strict"}],
    ids=["flexible", "strict", "2-agents", "11-agents-strict"],
)
def test_adoptable_names_are_exactly_what_the_program_creates(overrides: dict[str, object]) -> None:
    plan = run_program("prod", overrides)
    assert adoptable_names(load_prod(overrides)) == set(_adoptable(plan))


def test_agents_and_their_spread_groups_are_adoptable() -> None:
    names = adoptable_names(load_prod({"agentCount": 11}))
    assert {"honeydue-agent-1", "honeydue-agent-11", "honeydue-agent-spread-1", "honeydue-agent-spread-2"} <= names
    assert not [n for n in names if n.startswith("honeydue-dns-") and "agent" in n]


def _plain(value: Any) -> Any:
    """The connection holds the deploy private key: the whole object is secret."""
    return value.value if isinstance(value, SecretValue) else value


def _cluster_tokens(plan: Plan) -> list[Registration]:
    return [r for r in plan.by_type("random:index/randomPassword:RandomPassword") if r.name.startswith("honeydue-k3s")]


@pytest.fixture(scope="module")
def adopted() -> tuple[Plan, dict[str, str]]:
    """The first preview of production adopted: every adoptable resource, its host keys, the running token."""
    overrides, ids = adopt_overrides(run_program("prod"))
    return run_program("prod", overrides, preview=True), ids


Adopted = tuple[Plan, dict[str, str]]


def test_the_first_preview_imports_every_adoptable_resource_and_creates_none(adopted: Adopted) -> None:
    plan, ids = adopted
    kinds = {reg.type for reg in plan.registrations if reg.import_id}
    assert {"hcloud:index/server:Server", "hcloud:index/network:Network"} <= kinds
    assert {"cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/zoneSetting:ZoneSetting"} <= kinds
    for reg in plan.registrations:
        if (reg.name, reg.type) == CREATED_BEFORE:
            # In state already: created by the deploy key's own `up` (docs/migration.md step 3).
            assert reg.urn in deploy_key_first("prod").by_urn() and reg.import_id == ""
        elif reg.type in ADOPTABLE_TYPES:
            # Nothing of an importable type is created: each one names the live resource it takes over.
            assert reg.import_id == ids[reg.name], reg.name
            assert reg.protect, reg.name
            assert set(held_fields(reg.type, reg.name)) <= set(reg.ignore_changes), reg.name
        else:
            assert reg.import_id == "", reg.name
    # The SSL mode comes from config (sslMode): an import must find it as it is, never hold it.
    assert "value" not in plan.get("cloudflare:index/zoneSetting:ZoneSetting", "honeydue-edge-tls-ssl").ignore_changes
    for held in ("tls-1-3", "0rtt", "ssl-automatic-mode"):
        setting = plan.get("cloudflare:index/zoneSetting:ZoneSetting", f"honeydue-edge-tls-{held}")
        assert "value" in setting.ignore_changes, held
    servers = plan.by_type("hcloud:index/server:Server")
    assert sorted(s.name for s in servers) == list(SERVERS)
    for server in servers:
        assert server.inputs["deleteProtection"] == server.inputs["rebuildProtection"] is True
        # What the provider can't read back from a running server never shows as a diff.
        assert {"userData", "sshKeys", "image", "location", "serverType"} <= set(server.ignore_changes)


def test_an_adopted_cluster_keeps_its_running_token_and_generates_none() -> None:
    overrides, _ = adopt_overrides(run_program("prod"))
    plan = run_program("prod", overrides)
    assert _cluster_tokens(plan) == []
    assert plan.outputs["k3sTokenSource"] == "config"
    for index, server in enumerate(SERVERS, start=1):
        install = plan.get("command:remote:Command", f"honeydue-k3s-{index}-install")
        # The token reaches the node's secrets drop-in on the step's stdin (secret), never in the command text.
        assert isinstance(install.inputs["stdin"], SecretValue), server
        assert f"token: '{RUNNING_TOKEN}'\n" in install.inputs["stdin"].value, server
        assert RUNNING_TOKEN not in str(install.inputs["create"]), server
    assert RUNNING_TOKEN not in "\n".join(plaintext_strings([r.inputs for r in plan.registrations]))


def test_adopted_nodes_are_reached_with_their_own_host_key_and_fail_fast(adopted: tuple[Plan, dict[str, str]]) -> None:
    plan, _ = adopted
    for index, server in enumerate(SERVERS, start=1):
        for step in ("adopt", "cloud-init", "install", "converge"):
            connection = _plain(plan.get("command:remote:Command", f"honeydue-k3s-{index}-{step}").inputs["connection"])
            assert connection["hostKey"] == host_key(server), (server, step)
            assert connection["dialErrorLimit"] == ADOPTED_DIAL_ERROR_LIMIT, (server, step)
        adopt = plan.get("command:remote:Command", f"honeydue-k3s-{index}-adopt")
        cloud_init = plan.get("command:remote:Command", f"honeydue-k3s-{index}-cloud-init")
        # The adopt step (which fails fast on a node that isn't as expected) goes before every other step.
        assert plan.waits_for(cloud_init, adopt)
        assert "load_env 'adopt.sh [%s]'" in adopt.inputs["create"]


def test_without_adoption_there_is_no_adopt_step_and_the_generated_host_keys_are_pinned(prod_plan: Plan) -> None:
    assert not [r for r in prod_plan.registrations if r.name.endswith("-adopt")]
    # The first boot pins the generated key (in user data); every step after it the key the node made itself.
    first_boot = _plain(prod_plan.get("command:remote:Command", "honeydue-k3s-1-cloud-init").inputs["connection"])
    assert first_boot["hostKey"] == fake_ed25519_public_key("honeydue-1-host-key")
    rekey = prod_plan.get("command:remote:Command", "honeydue-k3s-1-rekey")
    connection = _plain(prod_plan.get("command:remote:Command", "honeydue-k3s-1-install").inputs["connection"])
    assert connection["dialErrorLimit"] == -1
    made = outputs_for("command:remote:Command", rekey.name, rekey.inputs, {})["stdout"].strip()
    assert connection["hostKey"] == made != first_boot["hostKey"]
    assert prod_plan.outputs["k3sTokenSource"] == "random"
    assert [r.name for r in _cluster_tokens(prod_plan)] == ["honeydue-k3s-token"]


def test_without_adopt_entries_nothing_is_imported(prod_plan: Plan) -> None:
    assert all(r.import_id == "" for r in prod_plan.registrations)


def test_live_kubernetes_objects_are_taken_over_only_in_adopt_mode(
    prod_plan: Plan, adopted: tuple[Plan, dict[str, str]]
) -> None:
    assert prod_plan.get("pulumi:providers:kubernetes", "honeydue-k3s-k8s").inputs["upsertExistingObjects"] == "false"
    plan, _ = adopted
    assert plan.get("pulumi:providers:kubernetes", "honeydue-k3s-k8s").inputs["upsertExistingObjects"] == "true"


def test_adopt_mode_warns_until_adopt_ids_are_cleared(caplog: pytest.LogCaptureFixture) -> None:
    overrides, _ = adopt_overrides(run_program("prod"))
    with caplog.at_level(logging.WARNING):
        run_program("prod", overrides, preview=True)
    assert any("honeydue:adoptIds is set" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_program(
            "prod",
            {"adoptedHostKeys": overrides["adoptedHostKeys"], "k3sToken": RUNNING_TOKEN},
            previous_outputs={"k3sTokenSource": "config", "adoptedNodes": ["honeydue-1", "honeydue-2", "honeydue-3"]},
        )
    assert not any("adoptIds" in r.getMessage() for r in caplog.records)


def test_after_adoption_the_token_and_host_keys_stay_and_nothing_is_imported() -> None:
    """Adoption ended: adoptIds cleared, k3sToken and adoptedHostKeys kept. Same token, same connections,
    no RandomPassword appears (it would put a new token into config.yaml), no import id left."""
    overrides, _ = adopt_overrides(run_program("prod"))
    during = run_program("prod", overrides)
    assert during.outputs["adoptedNodes"] == ["honeydue-1", "honeydue-2", "honeydue-3"]
    after = run_program(
        "prod",
        {k: v for k, v in overrides.items() if k != "adoptIds"},
        previous_outputs={"k3sTokenSource": "config", "adoptedNodes": during.outputs["adoptedNodes"]},
    )
    assert _cluster_tokens(after) == []
    assert all(r.import_id == "" for r in after.registrations)
    for name in ("honeydue-k3s-1-install", "honeydue-k3s-2-converge", "honeydue-k3s-3-cloud-init"):
        before_step, after_step = (p.get("command:remote:Command", name) for p in (during, after))
        # A changed connection or text would update (re-run) the step on a running node.
        assert after_step.inputs["connection"] == before_step.inputs["connection"], name
        assert after_step.inputs["create"] == before_step.inputs["create"], name


def test_a_pinned_host_key_only_for_a_node_adopted_now_or_before() -> None:
    """A node the stack creates pins the host key the stack generated: a key pinned from config for it (a typo,
    or a key someone planted) is refused before anything is created, also after adoption ended."""
    overrides, _ = adopt_overrides(run_program("prod"))
    pins = {"adoptedHostKeys": overrides["adoptedHostKeys"][:1]}
    for previous in ({}, {"k3sVersion": "v1.34.6+k3s1", "adoptedNodes": []}):
        plan = Plan(stack="prod", preview=True)
        with pytest.raises(ConfigError, match="honeydue:adoptedHostKeys: honeydue-1 is neither being adopted"):
            run_program("prod", pins, preview=True, into=plan, previous_outputs=previous)
        assert [r for r in plan.registrations if not r.type.startswith(("pulumi:providers:", "pulumi:pulumi:"))] == []
    # Adopted by an earlier update, or deployed by a program that did not record it yet: kept.
    for previous in ({"k3sVersion": "v1.34.6+k3s1", "adoptedNodes": ["honeydue-1"]}, {"k3sVersion": "v1.34.6+k3s1"}):
        assert run_program("prod", pins, preview=True, previous_outputs=previous).outputs["adoptedNodes"] == [
            "honeydue-1"
        ]


@pytest.mark.parametrize(
    ("previous", "overrides", "fragment"),
    [
        ("config", {}, "runs on the configured token"),
        ("random", {"k3sToken": RUNNING_TOKEN}, "runs on the token the stack generated"),
    ],
    ids=["config-to-random", "random-to-config"],
)
def test_the_token_never_switches_source(previous: str, overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match="honeydue:k3sToken:") as caught:
        run_program("prod", overrides, previous_outputs={"k3sTokenSource": previous})
    assert fragment in str(caught.value)


def test_the_token_may_stay_where_it_came_from() -> None:
    plan = run_program("prod", {"k3sToken": RUNNING_TOKEN}, previous_outputs={"k3sTokenSource": "config"})
    assert plan.outputs["k3sTokenSource"] == "config"


def test_an_unknown_name_fails_before_anything_is_created() -> None:
    plan = Plan(stack="prod", preview=True)
    with pytest.raises(ConfigError, match=r"honeydue:adoptIds: 'honeydue-9' is not an adoptable resource"):
        run_program("prod", {"adoptIds": ["honeydue-1=111", "honeydue-9=999"]}, preview=True, into=plan)
    assert plan.registrations == []


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [(["honeydue-1"], "<resource name>=<provider id>"), (["honeydue-1=1", "honeydue-1=2"], "listed twice")],
)
def test_malformed_adopt_entries_are_config_errors(entries: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match="honeydue:adoptIds\\[") as caught:
        load_prod({"adoptIds": entries})
    assert fragment in str(caught.value)


def test_issue_12_done_when(adopted: Adopted) -> None:
    """The acceptance of issue 12 in one place, on the first preview: all three servers, the network, the
    records and the zone settings adopted with the running token; servers imported and protected; no
    generated token; the running token in every server's secrets drop-in (on stdin); nothing of an importable
    type created."""
    plan, ids = adopted
    for server in SERVERS:
        reg = plan.get("hcloud:index/server:Server", server)
        assert reg.import_id == ids[server] and reg.protect and reg.inputs["deleteProtection"] is True
    assert plan.get("hcloud:index/network:Network", "honeydue-private").import_id == ids["honeydue-private"]
    records = plan.by_type("cloudflare:index/dnsRecord:DnsRecord")
    settings = plan.by_type("cloudflare:index/zoneSetting:ZoneSetting")
    assert len(records) == 27 and all(r.import_id == ids[r.name] for r in records)
    assert len(settings) == 6 and all(s.import_id == ids[s.name] for s in settings)
    assert _cluster_tokens(plan) == []
    for index in range(1, len(SERVERS) + 1):
        stdin = plan.get("command:remote:Command", f"honeydue-k3s-{index}-install").inputs["stdin"]
        assert isinstance(stdin, SecretValue) and f"token: '{RUNNING_TOKEN}'\n" in stdin.value
    created = [r.name for r in plan.registrations if r.type in ADOPTABLE_TYPES and not r.import_id]
    assert created == [CREATED_BEFORE[0]]  # in state already: the deploy key's own up, docs/migration.md step 3


def test_the_adoption_up_as_the_engine_runs_it_imports_and_never_replaces_or_deletes(adopted: Adopted) -> None:
    """State A: what the deploy key's own `up` of docs/migration.md step 3 left (the deploy key, its Hetzner
    SSH key, their component and the providers). Program B: adopt mode. The engine-diff model
    (offline/engine_diff.py) must show every adoptable resource as an import (pulumi/pulumi step_generator.go:
    an `import` option becomes an import step), nothing replaced or deleted, and nothing blocked."""
    plan, _ = adopted
    state = deploy_key_first("prod").registrations
    diff = diff_plans(state, plan.registrations)
    actions = {change.name: change.action for change in diff.changes if change.type in ADOPTABLE_TYPES}
    assert actions.pop(CREATED_BEFORE[0]) == "same"
    assert set(actions.values()) == {"import"}, actions
    assert not [c.name for c in diff.changes if c.action in ("replace", "delete")]
    assert not diff.blocked()
