"""Not one resource renamed: the URNs of prod are locked (tests/fixtures/urns/*.txt).

A URN is a resource's identity in state. A changed URN without an alias makes the engine delete the
resource under its old name and create a new one (for a server: a new machine; for a Kubernetes object
with an explicit name: delete, then create), see https://www.pulumi.com/docs/iac/concepts/options/aliases/.
Additions are allowed; a rename must carry an alias to the locked URN. The lock covers prod as
configured, prod in strict SSL mode (the target) and prod with agents.

To lock deliberate additions or an intended removal, regenerate with `venv/bin/python -m tests.test_urns`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from offline.harness import run_program
from offline.records import Plan

LOCKS = Path(__file__).parent / "fixtures" / "urns"
VARIANTS: dict[str, dict[str, Any]] = {
    "prod": {},
    "prod-strict": {"sslMode": "strict"},
    "prod-agents": {"agentCount": 2},
}


def locked(variant: str) -> list[str]:
    return [line for line in (LOCKS / f"{variant}.txt").read_text().splitlines() if line]


def _type_and_name(urn: str) -> str:
    """`<type>::<name>` of a URN (urn:pulumi:<stack>::<project>::<parent types$>type::<name>)."""
    qualified, name = urn.split("::")[2:4]
    return f"{qualified.split('$')[-1]}::{name}"


def missing(plan: Plan, lock: list[str]) -> list[str]:
    """Locked URNs that nothing registers any more, under its URN or an alias."""
    current = {r.urn for r in plan.registrations}
    aliased = {a for r in plan.registrations for a in r.aliases}
    return [urn for urn in lock if urn not in current and urn not in aliased and _type_and_name(urn) not in aliased]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_locked_urn_disappears(variant: str) -> None:
    plan = run_program("prod", VARIANTS[variant])
    gone = missing(plan, locked(variant))
    assert not gone, "renamed or removed without an alias (add `aliases=[...]`):\n" + "\n".join(gone)


def test_the_lock_check_catches_a_rename() -> None:
    plan = run_program("prod")
    lock = locked("prod")
    renamed = [r for r in plan.registrations if r.name != "honeydue-2"]
    assert len(renamed) == len(plan.registrations) - 1
    plan.registrations = renamed
    assert [u for u in missing(plan, lock) if u.endswith("::honeydue-2")], "a missing server must be reported"


def write_locks() -> None:
    LOCKS.mkdir(parents=True, exist_ok=True)
    for variant, overrides in VARIANTS.items():
        urns = sorted(r.urn for r in run_program("prod", overrides).registrations)
        (LOCKS / f"{variant}.txt").write_text("\n".join(urns) + "\n")
        print(f"{variant}: {len(urns)} URNs", file=sys.stderr)


if __name__ == "__main__":
    write_locks()
