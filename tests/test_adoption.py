"""Adopting the hand-built production: every adoptable resource can be imported, and nothing else."""

from __future__ import annotations

import pytest

from components.adoption import ADOPTABLE_TYPES, adoptable_names
from components.config.load import ConfigError
from offline.harness import Plan, run_program
from tests.conftest import load_prod


def _adoptable(plan: Plan) -> dict[str, str]:
    return {r.name: r.type for r in plan.registrations if r.type in ADOPTABLE_TYPES}


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


def _import_id(index: int, type_: str) -> str:
    """Ids as the providers know them: Hetzner's are numbers, Cloudflare's are <zone id>/<id>."""
    return f"{1000 + index}" if type_.startswith("hcloud:") else f"0123456789abcdef0123456789abcdef/{index:032x}"


def test_in_adopt_mode_every_adoptable_resource_is_imported_and_protected(prod_plan: Plan) -> None:
    adoptable = sorted(_adoptable(prod_plan).items())
    ids = {name: _import_id(i, type_) for i, (name, type_) in enumerate(adoptable)}
    plan = run_program("prod", {"adoptIds": [f"{name}={import_id}" for name, import_id in ids.items()]})
    for reg in plan.registrations:
        if reg.type in ADOPTABLE_TYPES:
            assert reg.import_id == ids[reg.name], reg.name
            assert reg.protect, reg.name
        else:
            assert reg.import_id == "", reg.name
    for server in plan.by_type("hcloud:index/server:Server"):
        # What the provider can't read back from a running server never shows as a diff.
        assert {"userData", "sshKeys", "image"} <= set(server.ignore_changes)


def test_without_adopt_entries_nothing_is_imported(prod_plan: Plan) -> None:
    assert all(r.import_id == "" for r in prod_plan.registrations)


def test_kubernetes_objects_that_exist_are_adopted_by_the_provider(prod_plan: Plan) -> None:
    provider = prod_plan.get("pulumi:providers:kubernetes", "honeydue-k3s-k8s")
    assert provider.inputs["upsertExistingObjects"] == "true"


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
