"""Runs `__main__.py` as it is under Pulumi's mock runtime and records what it registers.

The one harness behind `make plan` and the tests: stack config comes from Pulumi.yaml defaults and
Pulumi.<stack>.yaml, every secret gets a recognisable placeholder (offline/stack_config.py), and every
RegisterResource request is kept (parent, dependencies, protect, ignoreChanges, additionalSecretOutputs,
importId …) with its inputs, secret values wrapped so that a writer can't print them by accident
(offline/records.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import runpy
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from offline import fakes
from offline.engine_diff import Context, decide
from offline.engine_model import Change
from offline.records import UNKNOWN, Plan, Registration, SecretValue, served_outputs
from offline.stack_config import PROJECT_DIR, provider_environment, stack_config

PROGRAM = PROJECT_DIR / "__main__.py"


def _plain(value: Any) -> Any:
    """Deserialised protobuf value: secrets wrapped in SecretValue, unknowns as UNKNOWN."""
    if isinstance(value, dict):
        sig = value.get(rpc._special_sig_key)
        if sig == rpc._special_secret_sig:
            return SecretValue(_plain(value.get("value")))
        if sig == rpc._special_resource_sig:
            return value.get("urn", "")
        if sig in (rpc._special_asset_sig, rpc._special_archive_sig):
            return {k: _plain(v) for k, v in value.items() if k != rpc._special_sig_key}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    # protobuf Structs carry every number as a float; Kubernetes and Hetzner fields are integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class PlanMocks(pulumi.runtime.Mocks):
    """Deterministic ids and outputs: the same program and config always give the same plan."""

    def __init__(
        self, known_secrets: dict[str, str], previous_outputs: Mapping[str, Any], world: fakes.World = fakes.WORLD
    ) -> None:
        self.known_secrets = known_secrets
        self.previous_outputs = dict(previous_outputs)
        self.world = world

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            # The stack's own last outputs, as the backend serves them ({} before the first update): decrypted,
            # with the names of the secret ones (the SDK's get_output makes those secret again).
            secret = sorted(k for k, v in self.previous_outputs.items() if isinstance(v, SecretValue))
            outputs = served_outputs(self.previous_outputs)
            return args.name, {"name": args.name, "outputs": outputs, "secretOutputNames": secret}
        state = dict(args.inputs)
        if self.world.unknown_replaced and args.name in self.world.replaced:
            # A preview of the replacement: only the inputs are known; the SDK makes the rest unknown.
            return None, state
        state.update(fakes.outputs_for(args.typ, args.name, args.inputs, self.known_secrets, self.world))
        instance = self.world.instance(args.name)
        resource_id = args.resource_id or str(zlib.crc32(f"{args.typ}::{instance}".encode()) % 10_000_000)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        try:
            return fakes.invoke(args.token, args.args, self.world), []
        except fakes.InvokeFailureError as failure:
            # As a provider reports a failed data source: the invoke's failures, which the SDK raises in the program.
            return {}, [(failure.property, str(failure))]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that keeps every RegisterResource request, and answers as the engine would from a state.

    With a `prior` plan (the stack's state), each custom resource is decided as the engine would
    (offline.engine_diff.decide): a same step gets its id and outputs from the state and the provider is not
    called (engine_model.SAME_KEEPS_OUTPUTS), so an unchanged command never runs again and keeps its old
    stdout, whatever the world now answers; an update keeps its id and gets the provider's new outputs; a
    create or a replacement gets a new object from the world.
    """

    def __init__(self, mocks: PlanMocks, plan: Plan, prior: Plan | None, replace: Collection[str]) -> None:
        super().__init__(mocks)
        self.plan = plan
        self.registrations: list[Registration] = plan.registrations
        self.prior = prior.by_urn() if prior is not None else {}
        self.prior_outputs = prior.resource_outputs if prior is not None else {}
        self.news: dict[str, Registration] = {}
        self.decided: dict[str, Change] = {}
        self.context = Context(self.prior, self.news, self.decided, frozenset(replace), {})

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        urn = self.make_urn(request.parent, request.type, request.name)
        new = _registration(request, urn, "")
        old = self.prior.get(urn)
        action = ""
        if old is not None and urn in self.prior_outputs and new.custom and not new.type.startswith("pulumi:pulumi:"):
            action = decide(old, new, self.context).action
        if action == "same":
            resource_id, state = self.prior_outputs[urn]
            _ensure_event_loop()  # type: ignore[no-untyped-call]
            response = resource_pb2.RegisterResourceResponse(
                urn=urn, id=resource_id, object=_sync_await(rpc.serialize_properties(state, {}))
            )
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        else:
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            resource_id, state = response.id, self.resources[urn].state
            if action == "update":  # the same object, updated: its id stays
                resource_id = self.prior_outputs[urn][0]
                response = resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=response.object)
        new = dataclasses.replace(new, id=resource_id)
        self.news[urn] = new
        if action:
            self.decided[urn] = decide(old, new, self.context)
        self.plan.resource_outputs[urn] = (resource_id, state)
        self.registrations.append(new)
        return response


def _registration(request: Any, urn: str, resource_id: str) -> Registration:
    inputs = _plain(json_format.MessageToDict(request.object)) if request.HasField("object") else {}
    timeouts = request.customTimeouts
    return Registration(
        urn=urn,
        id=resource_id,
        type=request.type,
        name=request.name,
        parent=request.parent,
        custom=request.custom,
        inputs=inputs,
        dependencies=tuple(sorted(set(request.dependencies))),
        provider=request.provider,
        protect=bool(request.protect),
        ignore_changes=tuple(request.ignoreChanges),
        replace_on_changes=tuple(request.replaceOnChanges),
        additional_secret_outputs=tuple(request.additionalSecretOutputs),
        delete_before_replace=bool(request.deleteBeforeReplace),
        import_id=request.importId,
        custom_timeouts={
            k: v
            for k, v in (("create", timeouts.create), ("update", timeouts.update), ("delete", timeouts.delete))
            if v
        },
        aliases=tuple(_alias(a, request) for a in request.aliases),
        retain_on_delete=bool(request.retainOnDelete),
        property_dependencies={
            key: tuple(sorted(set(deps.urns))) for key, deps in request.propertyDependencies.items() if deps.urns
        },
    )


def _alias(alias: Any, request: Any) -> str:
    """An alias as a URN, or `<type>::<name>` for a spec (the SDK fills in what the spec leaves out)."""
    if alias.urn:
        return str(alias.urn)
    spec = alias.spec
    return f"{spec.type or request.type}::{spec.name or request.name}"


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    resolved = await output.future()
    return SecretValue(resolved) if await output.is_secret() else resolved


@contextlib.contextmanager
def _environment(variables: Mapping[str, str | None]) -> Iterator[None]:
    """The run's environment variables while the program runs (restored after)."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        _set_environment(variables)
        yield
    finally:
        _set_environment(saved)


def _set_environment(variables: Mapping[str, str | None]) -> None:
    """Sets each variable; None unsets it."""
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def run_program(
    stack: str = "prod",
    overrides: Mapping[str, Any | None] | None = None,
    *,
    preview: bool = False,
    program: Path | Callable[[], None] = PROGRAM,
    into: Plan | None = None,
    previous_outputs: Mapping[str, Any] | None = None,
    world: fakes.World = fakes.WORLD,
    prior: Plan | None = None,
    replace: Collection[str] = (),
    environ: Mapping[str, str | None] | None = None,
) -> Plan:
    """Evaluates the program once under mocks and returns what it registered and exported.

    `into` receives the registrations as they happen, so a caller can inspect a failed evaluation.
    `previous_outputs` are the outputs of the stack's last update (none: the first deployment).
    `world` is what the providers answer (offline.scenarios changes it: a replaced server, a new CA).
    `prior` is the state the engine holds (an earlier evaluation): unchanged resources keep its outputs.
    `replace` are URNs given to `pulumi up --replace` (never same).
    `environ` changes the run's environment variables (None unsets one) on top of the providers' placeholder
    tokens (offline.stack_config.provider_environment), as the stack's ESC environment sets them.
    """
    config, secret_keys = stack_config(stack, overrides)
    variables = provider_environment(environ)
    plan = into if into is not None else Plan(stack=stack, preview=preview)
    plan.known_secrets.update({v: f"secret:{k.split(':', 1)[1]}" for k, v in config.items() if k in secret_keys})
    plan.known_secrets.update({v: f"secret:{k}" for k, v in variables.items() if v})
    monitor = RecordingMonitor(PlanMocks(plan.known_secrets, previous_outputs or {}, world), plan, prior, replace)

    settings.ROOT.set(None)  # a fresh root Stack per evaluation, also when tests run many
    pulumi.runtime.set_all_config(config, secret_keys)
    pulumi.runtime.set_mocks(monitor.mocks, project="honeydue", stack=stack, preview=preview, monitor=monitor)
    # As pulumi.runtime.test does: a failure of an earlier evaluation must not surface in this one.
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    root = settings.get_root_resource()

    def evaluate() -> None:
        if callable(program):
            program()
        else:
            runpy.run_path(str(program), run_name="__main__")

    with _environment(variables):
        _sync_await(run_pulumi_func(evaluate))
    exported = getattr(root, "outputs", {})
    plan.outputs = {name: _sync_await(_resolve(value)) for name, value in sorted(exported.items())}
    # The mock monitor serves registrations from a thread pool: their order is not the program's.
    plan.registrations.sort(key=lambda r: r.urn)
    return plan
