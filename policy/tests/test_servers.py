"""prod-servers-protected."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import UNKNOWN, resource_args, violations
from pulumi_policy.proxy import UnknownValueError

POLICY = "prod-servers-protected"
SERVER = "hcloud:index/server:Server"
PROTECTED = {"name": "honeydue-1", "deleteProtection": True, "rebuildProtection": True, "placementGroupId": 6504226}


def server(props: dict[str, Any], *, protect: bool = True, stack: str = "prod", **kwargs: Any) -> list[str]:
    return violations(POLICY, resource_args(SERVER, props, name="honeydue-1", protect=protect, stack=stack, **kwargs))


def test_protected_prod_server_passes() -> None:
    assert server(PROTECTED) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"deleteProtection": False}, "deleteProtection must be true"),
        ({"rebuildProtection": None}, "rebuildProtection must be true"),
        ({"placementGroupId": None}, "has no placementGroupId"),
    ],
)
def test_unprotected_or_unplaced_prod_server_is_a_violation(change: dict[str, Any], expected: str) -> None:
    found = server({**PROTECTED, **change})
    assert len(found) == 1 and expected in found[0], found


def test_prod_server_without_pulumi_protect_is_a_violation() -> None:
    found = server(PROTECTED, protect=False)
    assert len(found) == 1 and "must be protected" in found[0]


def test_other_stacks_are_free_and_production_stacks_are_configurable() -> None:
    bare = {"name": "honeydue-1"}
    assert server(bare, protect=False, stack="dev") == []
    assert len(server(bare, protect=False, stack="staging", config={"productionStacks": ["staging"]})) == 4


def test_unknown_placement_group_defers_to_the_update() -> None:
    with pytest.raises(UnknownValueError):
        server({**PROTECTED, "placementGroupId": UNKNOWN})


def test_a_server_released_by_replaceable_nodes_may_go_unprotected_but_not_unplaced() -> None:
    released = {**PROTECTED, "deleteProtection": False, "rebuildProtection": False, "labels": {"replaceable": "true"}}
    assert server(released, protect=False) == []
    found = server({**released, "placementGroupId": None}, protect=False)
    assert len(found) == 1 and "placementGroupId" in found[0]
    assert len(server({**released, "labels": {"replaceable": "yes"}}, protect=False)) == 3
