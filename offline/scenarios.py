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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.k3s.steps import LEAVE_REFUSED
from offline import adoption_world, fakes
from offline.engine_diff import command_effect, diff_plans
from offline.engine_model import EngineDiff
from offline.harness import run_program
from offline.records import Plan, Registration, SecretValue, served_outputs
from offline.side_effects import ZONE_SETTING, refreshed_inputs

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
    """Resources given to `pulumi up --replace`: names, or `<type>::<name>` where a name is not unique."""
    preview: bool = False
    """B as `pulumi preview` sees it: outputs of replaced resources unknown."""
    adoption: str = ""
    """"up": A is only what the targeted `up` of docs/migration.md step 3 left, B adopts the hand-built
    production (offline.adoption_world); "ends": A is the stack after that `up`, B clears adoptIds;
    "ended": A is the stack after both, B changes `after` on top of the adopted config without adoptIds."""
    refreshed: bool = False
    """A as `pulumi refresh` leaves it: what the providers' Read writes (offline.side_effects.REFRESH_READS)."""
    zone: Mapping[str, str] = field(default_factory=dict)
    """Settings the Cloudflare zone holds where the stack sets none (setting id -> value): what a refresh reads."""


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    state: tuple[Registration, ...]
    program: Plan
    diff: EngineDiff
    failures: tuple[str, ...] = ()
    """What fails when the `up` runs though the engine plans it (a provider dialing a cluster with a stale CA)."""


SCENARIOS: dict[str, Callable[[], Scenario]] = {}


def scenario(make: Callable[[], Scenario]) -> Callable[[], Scenario]:
    """Registers a scenario under its name (the function's, with dashes)."""
    SCENARIOS[make.__name__.replace("_", "-")] = make
    return make


def _replace_server(scenario_name: str, name: str, *, preview: bool = False, released: str = "before") -> Scenario:
    """`pulumi up --replace` of server `name`; `released`: named in replaceableNodes by an earlier `up`
    ("before", the runbook's order), in the same `up` ("same"), or not at all ("")."""
    release = {"replaceableNodes": [name]}
    when = {"before": "released by an earlier up", "same": "released in the same up", "": "not released"}[released]
    return Scenario(
        name=scenario_name,
        summary=(
            f"make preview REPLACE=<{name}> ({when}): what the preview shows, the new server's outputs unknown"
            if preview
            else f"make up REPLACE=<{name}> ({when}): a new server comes back with a new id and new addresses"
        ),
        before=release if released == "before" else {},
        after=release if released == "same" else {},
        world=fakes.World(replaced=frozenset({name}), unknown_replaced=preview),
        replace=(name,),
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
def replace_server_2_unreleased() -> Scenario:
    return _replace_server("replace-server-2-unreleased", "honeydue-2", released="")


@scenario
def replace_server_2_released_same_up() -> Scenario:
    return _replace_server("replace-server-2-released-same-up", "honeydue-2", released="same")


@scenario
def release_server_2() -> Scenario:
    return Scenario(
        "release-server-2",
        "replaceableNodes names honeydue-2: its protections lifted, its leave step armed",
        after={"replaceableNodes": ["honeydue-2"]},
    )


@scenario
def return_server_2() -> Scenario:
    return Scenario(
        "return-server-2",
        "honeydue-2 (replaced or not) leaves replaceableNodes: protected again, its DNS records back once it serves",
        before={"replaceableNodes": ["honeydue-2"]},
        after={"replaceableNodes": []},
    )


BALANCED = {"edgeOrigins": "loadBalancer", "cloudflareAccountId": "0123456789abcdef0123456789abcdef"}
"""edgeOrigins loadBalancer (components/edge/balancer.py), with a stand-in account id."""


@scenario
def use_load_balancer() -> Scenario:
    return Scenario(
        "use-load-balancer",
        "edgeOrigins records -> loadBalancer: a monitored pool and a load balancer per hostname, records kept",
        after=BALANCED,
    )


@scenario
def release_server_2_balanced() -> Scenario:
    return Scenario(
        "release-server-2-balanced",
        "edgeOrigins loadBalancer, replaceableNodes names honeydue-2: it leaves the pool with its records",
        before=BALANCED,
        after={"replaceableNodes": ["honeydue-2"]},
    )


@scenario
def replace_install_step_2() -> Scenario:
    return Scenario(
        "replace-install-step-2",
        "pulumi up --replace honeydue-k3s-2-install: the step re-runs from the program's current text",
        replace=("honeydue-k3s-2-install",),
    )


@scenario
def rotate_database_url() -> Scenario:
    return Scenario(
        "rotate-database-url", "a new databaseUrl (Neon password rotated)", after={"databaseUrl": NEW_DATABASE_URL}
    )


@scenario
def switch_kube_proxy_mode() -> Scenario:
    return Scenario(
        "switch-kube-proxy-mode",
        "kubeProxyMode ipvs -> iptables, before 1.35: each server's converge restarts k3s, one after the other",
        after={"kubeProxyMode": "iptables"},
    )


@scenario
def bump_k3s_version() -> Scenario:
    return Scenario(
        "bump-k3s-version",
        "k3sVersion v1.34.6+k3s1 -> v1.35.2+k3s1, kube-proxy already switched to iptables",
        before={"kubeProxyMode": "iptables"},
        after={"k3sVersion": "v1.35.2+k3s1"},
    )


@scenario
def new_kubeconfig_ca() -> Scenario:
    return Scenario(
        "new-kubeconfig-ca",
        "the fetched kubeconfig carries another CA (e.g. after a restore or a CA rotation)",
        world=fakes.World(kubeconfig_ca="TkVXLUZBS0UtQ0E="),
    )


@scenario
def new_kubeconfig_ca_refetch() -> Scenario:
    return Scenario(
        "new-kubeconfig-ca-refetch",
        "after a CA rotation: pulumi up --replace the kubeconfig step, as docs/runbook.md says",
        world=fakes.World(kubeconfig_ca="TkVXLUZBS0UtQ0E="),
        replace=("honeydue-k3s-kubeconfig",),
    )


@scenario
def adopt() -> Scenario:
    return Scenario("adopt", "the adoption `up`: every hand-built resource imported, then diffed", adoption="up")


@scenario
def adopt_ends() -> Scenario:
    return Scenario(
        "adopt-ends", "the first `up` after adoption: adoptIds cleared", after={"adoptIds": []}, adoption="ends"
    )


@scenario
def rotate_deploy_key() -> Scenario:
    return Scenario("rotate-deploy-key", "deployKeyGeneration 1 -> 2", after={"deployKeyGeneration": 2})


@scenario
def rotate_deploy_key_adopted() -> Scenario:
    return Scenario(
        "rotate-deploy-key-adopted",
        "deployKeyGeneration 1 -> 2 on the adopted production (after adoption ended)",
        after={"adoptIds": [], "deployKeyGeneration": 2},
        adoption="ended",
    )


@scenario
def rotate_deploy_key_by_replace() -> Scenario:
    return Scenario(
        "rotate-deploy-key-by-replace",
        "what the runbook said before issue 19: pulumi up --replace the deploy key",
        replace=("tls:index/privateKey:PrivateKey::honeydue-deploy",),
        world=fakes.World(replaced=frozenset({"honeydue-deploy"})),
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
def origin_pulls_required() -> Scenario:
    return Scenario(
        "origin-pulls-required",
        "originPullsRequired true in strict, after phase 1: Traefik refuses a client without our certificate",
        before={"sslMode": "strict"},
        after={"originPullsRequired": True},
    )


@scenario
def grow_redis_volume() -> Scenario:
    return Scenario(
        "grow-redis-volume",
        "redisStorageSize 10Gi -> 20Gi: the StatefulSet is replaced and re-adopts the claim at its old size",
        after={"redisStorageSize": "20Gi"},
    )


@scenario
def refresh_strict() -> Scenario:
    return Scenario(
        "refresh-strict",
        "pulumi up --refresh in strict mode, nothing changed: the Origin CA certificate read back as the API lists it",
        before={"sslMode": "strict"},
        refreshed=True,
    )


@scenario
def refresh_zero_rtt() -> Scenario:
    return Scenario(
        "refresh-zero-rtt",
        "pulumi up --refresh on a zone that had 0-RTT on before the stack pinned it off: tls_1_3 reads back as set",
        refreshed=True,
        zone={"0rtt": "on"},
    )


@scenario
def cloudflare_etag() -> Scenario:
    return Scenario(
        "cloudflare-etag",
        "Cloudflare publishes its ranges under a new etag",
        world=fakes.World(cloudflare_etag="offline-plan-etag-2"),
    )


def _scale_in(name: str, key: str, counts: tuple[int, int], leaving: tuple[str, ...], released: bool) -> Scenario:
    what = "agents" if key == "agentCount" else "etcd members"
    return Scenario(
        name,
        f"{key} {counts[0]} -> {counts[1]} (scale-in of {what}, {'released' if released else 'not released'} before)",
        before={key: counts[0], **({"replaceableNodes": list(leaving)} if released else {})},
        after={key: counts[1]},
    )


@scenario
def agents_2_to_0() -> Scenario:
    return _scale_in("agents-2-to-0", "agentCount", (2, 0), ("honeydue-agent-1", "honeydue-agent-2"), True)


@scenario
def agents_2_to_0_unreleased() -> Scenario:
    return _scale_in("agents-2-to-0-unreleased", "agentCount", (2, 0), ("honeydue-agent-1", "honeydue-agent-2"), False)


@scenario
def servers_5_to_3() -> Scenario:
    return _scale_in("servers-5-to-3", "serverCount", (5, 3), ("honeydue-4", "honeydue-5"), True)


@scenario
def servers_5_to_3_unreleased() -> Scenario:
    return _scale_in("servers-5-to-3-unreleased", "serverCount", (5, 3), ("honeydue-4", "honeydue-5"), False)


@functools.lru_cache(maxsize=16)
def _steady_state(stack: str, before_json: str) -> Plan:
    before = json.loads(before_json)
    first = run_program(stack, before)
    return run_program(stack, before, previous_outputs=served_outputs(first.outputs), prior=first)


def steady_state(stack: str, before: Mapping[str, Any]) -> Plan:
    """The program as the stack stands after an `up` with `before` (its outputs fed back once)."""
    return _steady_state(stack, json.dumps(dict(before), sort_keys=True))


def refusing_deletes(state: tuple[Registration, ...]) -> dict[str, str]:
    """Leave steps of protected nodes as the state holds them: their delete script exits 1 before draining
    anything (components/k3s/steps.refuse_to_leave; tests/test_scenarios runs it)."""
    return {
        r.urn: "the node is protected (replaceableNodes does not name it): its leave script exits 1, nothing drained"
        for r in state
        if r.type == "command:remote:Command" and str(_revealed(r.inputs.get("delete", ""))).startswith(LEAVE_REFUSED)
    }


def _revealed(value: Any) -> Any:
    return value.value if isinstance(value, SecretValue) else value


def _adoption_config(stack: str) -> dict[str, Any]:
    overrides, _ = adoption_world.adopt_overrides(steady_state(stack, {}))
    return overrides


def _adoption_up(item: Scenario, stack: str) -> Outcome:
    """The adoption `up` on the state the deploy key's own `up` left (docs/migration.md step 3)."""
    program = run_program(stack, {**_adoption_config(stack), **item.before})
    state = tuple(adoption_world.deploy_key_first(stack).registrations)
    diff = diff_plans(state, program.registrations, live=adoption_world.live_of(program))
    return Outcome(item, state, program, diff)


@functools.lru_cache(maxsize=2)
def _after_adoption(stack: str) -> Plan:
    """The stack after the adoption `up` and the `up` that cleared adoptIds (host keys and token kept)."""
    config = _adoption_config(stack)
    adopted = steady_state(stack, config)
    imported = [adoption_world.state_after_import(r) if r.import_id else r for r in adopted.registrations]
    return run_program(
        stack,
        {**config, "adoptIds": []},
        previous_outputs=served_outputs(adopted.outputs),
        prior=dataclasses.replace(adopted, registrations=imported),
    )


def evaluate(item: Scenario, stack: str = "prod") -> Outcome:
    """State A, program B and the engine's decisions for `item`."""
    if item.adoption == "up":
        return _adoption_up(item, stack)
    before = {**_adoption_config(stack), **item.before} if item.adoption else dict(item.before)
    state_plan = _after_adoption(stack) if item.adoption == "ended" else steady_state(stack, before)
    state = tuple(state_plan.registrations)
    if item.adoption == "ends":
        state = tuple(adoption_world.state_after_import(r) if r.import_id else r for r in state)
    if item.refreshed:
        state = refreshed_state(state, item.zone)
    targets = [r.urn for r in state if r.name in item.replace or f"{r.type}::{r.name}" in item.replace]
    if len(targets) != len(item.replace):
        raise KeyError(f"--replace names {item.replace} match {len(targets)} resources")
    program = run_program(
        stack,
        {**before, **item.after},
        preview=item.preview,
        previous_outputs=served_outputs(state_plan.outputs),
        world=item.world,
        prior=dataclasses.replace(state_plan, registrations=list(state)),
        replace=targets,
    )
    diff = diff_plans(state, program.registrations, replace=targets, failing=refusing_deletes(state))
    failures = [*stale_kubeconfig(program, item.world), *unauthorized_logins(state, program, diff)]
    return Outcome(item, state, program, diff, failures=tuple(failures))


def refreshed_state(state: Sequence[Registration], unmanaged: Mapping[str, str]) -> tuple[Registration, ...]:
    """`state` as `pulumi refresh` leaves it, in a Cloudflare zone holding `unmanaged` where the stack sets no
    setting and the state's values where it does (offline.side_effects.refreshed_inputs)."""
    zone = {
        **unmanaged,
        **{str(r.inputs.get("settingId")): r.inputs.get("value") for r in state if r.type == ZONE_SETTING},
    }
    return tuple(dataclasses.replace(r, inputs=refreshed_inputs(r.type, r.inputs, zone)) for r in state)


def _connection(reg: Registration) -> dict[str, Any]:
    value = _revealed(reg.inputs.get("connection"))
    return {k: _revealed(v) for k, v in value.items()} if isinstance(value, dict) else {}


def unauthorized_logins(state: tuple[Registration, ...], program: Plan, diff: EngineDiff) -> list[str]:
    """Steps that would log in to a running node with a private key the node does not accept.

    A node accepts the keys the state's steps on it log in with today, and a key a deploy-key step of this
    `up` authorizes on it (components/k3s/deploy_key.py). Only steps that dial count: those the engine
    creates, replaces or updates with something to run (a held connection stays the state's)."""
    accepted: dict[str, set[str]] = {}
    for reg in state:
        if reg.type == "command:remote:Command" and "host" in _connection(reg):
            accepted.setdefault(_connection(reg)["host"], set()).add(str(_connection(reg).get("privateKey")))
    keys = {
        _revealed(out.get("publicKeyOpenssh", "")).strip(): _revealed(out.get("privateKeyOpenssh"))
        for urn, (_, out) in program.resource_outputs.items()
        if "tls:index/privateKey:PrivateKey" in urn
    }
    by_urn: dict[str, Registration | None] = dict(program.by_urn())
    olds = {r.urn: r for r in state}
    authorizing: dict[str, list[tuple[str, str]]] = {}
    for change in diff.changes:
        step = by_urn.get(change.urn)
        if step is not None and "-deploy-key-" in step.name and change.action == "create":
            text = str(_revealed(step.inputs.get("create", "")))
            host = str(_connection(step).get("host"))
            authorizing.setdefault(host, []).extend((str(v), step.name) for k, v in keys.items() if k and k in text)
    found = []
    for change in diff.changes:
        step = by_urn.get(change.urn)
        if (
            step is None
            or step.type != "command:remote:Command"
            or change.action not in ("create", "update", "replace")
        ):
            continue
        if "nothing runs" in command_effect(change, olds.get(change.urn), step):
            continue
        conn = _connection(step)
        target, key = str(conn.get("host")), str(conn.get("privateKey"))
        if target not in accepted or key in accepted[target]:
            continue
        # Authorized in this `up`: only good for steps the engine runs after the authorizing one.
        if not any(
            k == key and (by == step.name or diff.forced_before(by, step.name)) for k, by in authorizing.get(target, [])
        ):
            found.append(
                f"{step.name}: logs in to a running node with a deploy key the node does not hold yet: its step fails"
            )
    return found


def _ca_of(kubeconfig: Any) -> str:
    value = kubeconfig.value if isinstance(kubeconfig, SecretValue) else kubeconfig
    if not isinstance(value, str):
        return ""
    clusters = (yaml.safe_load(value) or {}).get("clusters") or [{}]
    return str((clusters[0].get("cluster") or {}).get("certificate-authority-data", ""))


def stale_kubeconfig(program: Plan, world: fakes.World) -> list[str]:
    """Kubernetes providers whose kubeconfig trusts another CA than the cluster now serves.

    The kubeconfig comes from a command's stdout, and an unchanged command takes a same step: it keeps its
    outputs from the state and runs nothing (engine_model.SAME_KEEPS_OUTPUTS). After a CA rotation the
    provider is still handed the old CA, and its first request to the API server fails TLS verification."""
    return [
        f"{reg.name}: its kubeconfig trusts the CA of the state, the cluster serves another: the first API request "
        "fails TLS verification. The kubeconfig step is unchanged, so it does not run again: "
        "`pulumi up --replace` it (docs/runbook.md, Cluster access)"
        for reg in program.by_type("pulumi:providers:kubernetes")
        if _ca_of(reg.inputs.get("kubeconfig")) not in ("", world.kubeconfig_ca)
    ]


def run(name: str, stack: str = "prod") -> Outcome:
    """Evaluates the scenario registered as `name`."""
    if name not in SCENARIOS:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    return evaluate(SCENARIOS[name](), stack)
