"""Day-2 scenarios: the program evaluated as the stack stands (state A) and as the next `up` runs it (B).

State A is a steady state: the program evaluated with its own outputs served back by the StackReference,
as after any `up`. B changes config, or what the providers answer (`fakes.World`: a replaced server comes
back with a new id and new addresses, K3s with another CA, Cloudflare with a new etag). The engine-diff
model (offline.engine_diff) then says what the real engine does. `make scenario NAME=…` prints one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from offline import fakes
from offline.engine_diff import diff_plans
from offline.engine_model import EngineDiff
from offline.harness import run_program
from offline.records import Plan, Registration, served_outputs

NEW_DATABASE_URL = "postgresql://honeydue:ROTATED-databaseUrl@ep-placeholder-pooler.eu-central-1.aws.neon.tech/honeydue?sslmode=verify-full"


@dataclass(frozen=True)
class Scenario:
    """A change from state A to program B, and how the operator runs it."""

    name: str
    summary: str
    before: Mapping[str, Any] = field(default_factory=dict)
    """Config overrides of state A (on Pulumi.prod.yaml)."""
    after: Mapping[str, Any] = field(default_factory=dict)
    """Config overrides of B, on top of `before`."""
    world: fakes.World = fakes.WORLD
    """What the providers answer in B."""
    replace: tuple[str, ...] = ()
    """Names of resources given to `pulumi up --replace`."""
    unprotect: tuple[str, ...] = ()
    """Runbook before the up: `pulumi state unprotect` on these resources."""
    lift_hetzner_protection: bool = True
    """Runbook: also `hcloud server disable-protection <name> delete rebuild` on them (then `pulumi refresh`)."""
    preview: bool = False
    """B as `pulumi preview` sees it: outputs of replaced resources unknown."""


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    state: tuple[Registration, ...]
    program: Plan
    diff: EngineDiff


SCENARIOS: dict[str, Callable[[], Scenario]] = {}


def scenario(make: Callable[[], Scenario]) -> Callable[[], Scenario]:
    """Registers a scenario under its name (the function's, with dashes)."""
    SCENARIOS[make.__name__.replace("_", "-")] = make
    return make


def _replace_server(scenario_name: str, name: str, *, preview: bool = False) -> Scenario:
    return Scenario(
        name=scenario_name,
        summary=f"pulumi up --replace {name}: a new server comes back with a new id and new public addresses",
        world=fakes.World(replaced=frozenset({name}), unknown_replaced=preview),
        replace=(name,),
        unprotect=(name,),
        preview=preview,
    )


@scenario
def no_change() -> Scenario:
    return Scenario("no-change", "a second `up` with nothing changed: only same")


@scenario
def replace_server_1() -> Scenario:
    return _replace_server("replace-server-1", "honeydue-1")


@scenario
def replace_server_2() -> Scenario:
    return _replace_server("replace-server-2", "honeydue-2")


@scenario
def replace_server_2_preview() -> Scenario:
    return _replace_server("replace-server-2-preview", "honeydue-2", preview=True)


@scenario
def rotate_database_url() -> Scenario:
    return Scenario(
        "rotate-database-url", "a new databaseUrl (Neon password rotated)", after={"databaseUrl": NEW_DATABASE_URL}
    )


@scenario
def bump_k3s_version() -> Scenario:
    return Scenario("bump-k3s-version", "k3sVersion v1.34.6+k3s1 -> v1.35.2+k3s1", after={"k3sVersion": "v1.35.2+k3s1"})


@scenario
def new_kubeconfig_ca() -> Scenario:
    return Scenario(
        "new-kubeconfig-ca",
        "the fetched kubeconfig carries another CA (e.g. after a restore or a CA rotation)",
        world=fakes.World(kubeconfig_ca="TkVXLUZBS0UtQ0E="),
    )


@scenario
def ssl_flexible_to_strict() -> Scenario:
    return Scenario("ssl-flexible-to-strict", "sslMode flexible -> strict", after={"sslMode": "strict"})


@scenario
def ssl_strict_to_flexible() -> Scenario:
    return Scenario(
        "ssl-strict-to-flexible",
        "sslMode strict -> flexible",
        before={"sslMode": "strict"},
        after={"sslMode": "flexible"},
    )


@scenario
def cloudflare_etag() -> Scenario:
    return Scenario(
        "cloudflare-etag",
        "Cloudflare publishes its ranges under a new etag",
        world=fakes.World(cloudflare_etag="offline-plan-etag-2"),
    )


@scenario
def agents_2_to_0() -> Scenario:
    return Scenario(
        "agents-2-to-0",
        "agentCount 2 -> 0 (scale-in)",
        before={"agentCount": 2},
        after={"agentCount": 0},
        unprotect=("honeydue-agent-1", "honeydue-agent-2"),
    )


@scenario
def servers_5_to_3() -> Scenario:
    return Scenario(
        "servers-5-to-3",
        "serverCount 5 -> 3 (scale-in of etcd members)",
        before={"serverCount": 5},
        after={"serverCount": 3},
        unprotect=("honeydue-4", "honeydue-5"),
    )


@functools.lru_cache(maxsize=8)
def _steady_state(stack: str, before_json: str) -> Plan:
    before = json.loads(before_json)
    first = run_program(stack, before)
    return run_program(stack, before, previous_outputs=served_outputs(first.outputs))


def steady_state(stack: str, before: Mapping[str, Any]) -> Plan:
    """The program as the stack stands after an `up` with `before` (its outputs fed back once)."""
    return _steady_state(stack, json.dumps(dict(before), sort_keys=True))


def _unprotected(reg: Registration, hetzner: bool) -> Registration:
    inputs = dict(reg.inputs)
    for key in ("deleteProtection", "rebuildProtection"):
        if key in inputs and hetzner:
            inputs[key] = False
    return dataclasses.replace(reg, protect=False, inputs=inputs)


def evaluate(item: Scenario, stack: str = "prod") -> Outcome:
    """State A, program B and the engine's decisions for `item`."""
    state_plan = steady_state(stack, item.before)
    lift = item.lift_hetzner_protection
    state = tuple(_unprotected(r, lift) if r.name in item.unprotect else r for r in state_plan.registrations)
    program = run_program(
        stack,
        {**item.before, **item.after},
        preview=item.preview,
        previous_outputs=served_outputs(state_plan.outputs),
        world=item.world,
    )
    targets = [r.urn for r in state if r.name in item.replace]
    if len(targets) != len(item.replace):
        raise KeyError(f"--replace names {item.replace} match {len(targets)} resources")
    return Outcome(item, state, program, diff_plans(state, program.registrations, replace=targets))


def run(name: str, stack: str = "prod") -> Outcome:
    """Evaluates the scenario registered as `name`."""
    if name not in SCENARIOS:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    return evaluate(SCENARIOS[name](), stack)
