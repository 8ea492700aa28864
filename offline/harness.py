"""Runs `__main__.py` as it is under Pulumi's mock runtime and records what it registers.

The one harness behind `make plan` and the tests: stack config comes from Pulumi.yaml defaults and
Pulumi.<stack>.yaml, every secret gets a recognisable placeholder, and every RegisterResource request
is kept (parent, dependencies, protect, ignoreChanges, additionalSecretOutputs, importId …) with its
inputs, secret values wrapped so that a writer can't print them by accident.
"""

from __future__ import annotations

import json
import runpy
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config.reader import NAMESPACE
from offline import fakes

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROGRAM = PROJECT_DIR / "__main__.py"
PLACEHOLDER = "PLACEHOLDER"
# Optional secrets whose presence changes what the program builds: unset unless a caller sets them
# (k3sToken: set, the cluster takes it instead of generating one).
UNSET_SECRETS = frozenset({"k3sToken"})


@dataclass(frozen=True)
class SecretValue:
    """A value the engine would encrypt; `str()` never shows it."""

    value: Any = field(repr=False)

    def __str__(self) -> str:
        return "[secret]"


def plaintext_strings(value: Any) -> list[str]:
    """Every string in recorded inputs that is not inside a secret (where a leak would show)."""
    if isinstance(value, SecretValue):
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in plaintext_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in plaintext_strings(v)]
    return [value] if isinstance(value, str) else []


class Unknown:
    """A value not known during preview."""

    def __repr__(self) -> str:
        return "[unknown]"


UNKNOWN = Unknown()


@dataclass(frozen=True, kw_only=True)
class Registration:
    """One RegisterResource request as the engine would receive it."""

    urn: str
    id: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    provider: str
    protect: bool
    ignore_changes: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    delete_before_replace: bool
    import_id: str
    custom_timeouts: dict[str, str]
    aliases: tuple[str, ...] = ()
    """Earlier identities: full URNs, or `<type>::<name>` where only a name/type alias was given."""
    retain_on_delete: bool = False
    """The engine never calls the provider's Delete for it."""
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per input, the URNs its value came from (what the engine makes unknown when one of them is replaced)."""


@dataclass
class Plan:
    """Everything one evaluation of the program registered."""

    stack: str
    preview: bool
    registrations: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    known_secrets: dict[str, str] = field(default_factory=dict)
    """Every secret value the offline world made up (placeholders, fake keys) -> a label for redaction."""

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def get(self, type_: str, name: str) -> Registration:
        matches = [r for r in self.registrations if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} registrations of {type_} named {name}")
        return matches[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}

    def waits_for(self, later: Registration, earlier: Registration) -> bool:
        """Whether `later` depends on `earlier`, directly or through other resources (so Pulumi creates
        `earlier` first and deletes it last)."""
        by_urn, seen, todo = self.by_urn(), set(), list(later.dependencies)
        while todo:
            urn = todo.pop()
            if urn == earlier.urn:
                return True
            if urn not in seen and urn in by_urn:
                seen.add(urn)
                todo.extend(by_urn[urn].dependencies)
        return False

    def redact(self, text: str) -> str:
        """Replaces every known secret value in `text` by its label."""
        for secret in sorted(self.known_secrets, key=len, reverse=True):
            text = text.replace(secret, f"<{self.known_secrets[secret]}>")
        return text


# ---------------------------------------------------------------------------------------- config


def secret_placeholder(key: str) -> str:
    """A recognisable value for a secret key that still passes validation."""
    if key == "databaseUrl":
        return f"postgresql://honeydue:{PLACEHOLDER}-databaseUrl@ep-placeholder-pooler.eu-central-1.aws.neon.tech/honeydue?sslmode=require"
    return f"{PLACEHOLDER}-{key}-0123456789abcdef0123"


def _encode(value: Any) -> str:
    """A config value as the CLI hands it to the program: JSON for arrays, lower-case booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def declared_config(project_dir: Path = PROJECT_DIR) -> dict[str, dict[str, Any]]:
    """The `config:` block of Pulumi.yaml."""
    return dict(yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["config"])


def stack_config(
    stack: str = "prod", overrides: Mapping[str, Any | None] | None = None, *, project_dir: Path = PROJECT_DIR
) -> tuple[dict[str, str], list[str]]:
    """Full-key config and secret keys as `pulumi preview` would pass them, secrets as placeholders.

    `overrides` maps short keys to raw values (encoded like the CLI does); None removes a key.
    """
    declared = declared_config(project_dir)
    values: dict[str, Any] = {k: spec["default"] for k, spec in declared.items() if "default" in spec}
    stack_file = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text()) or {}
    prefix = NAMESPACE + ":"
    for full_key, value in (stack_file.get("config") or {}).items():
        values[full_key.removeprefix(prefix)] = value
    secret_keys = [k for k, spec in declared.items() if spec.get("secret")]
    for key in secret_keys:
        if key not in UNSET_SECRETS:
            values[key] = secret_placeholder(key)
    for key, value in (overrides or {}).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    config = {prefix + k: _encode(v) for k, v in values.items()}
    return config, [prefix + k for k in secret_keys if k in values]


# ---------------------------------------------------------------------------------------- engine


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
            # The stack's own last outputs, as the backend would serve them ({} before the first update).
            return args.name, {"name": args.name, "outputs": self.previous_outputs, "secretOutputNames": []}
        state = dict(args.inputs)
        if self.world.unknown_replaced and args.name in self.world.replaced:
            # A preview of the replacement: only the inputs are known; the SDK makes the rest unknown.
            return None, state
        state.update(fakes.outputs_for(args.typ, args.name, args.inputs, self.known_secrets, self.world))
        instance = self.world.instance(args.name)
        resource_id = args.resource_id or str(zlib.crc32(f"{args.typ}::{instance}".encode()) % 10_000_000)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return fakes.invoke(args.token, args.args, self.world), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that keeps every RegisterResource request."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(_registration(request, response.urn, response.id))
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


def run_program(
    stack: str = "prod",
    overrides: Mapping[str, Any | None] | None = None,
    *,
    preview: bool = False,
    program: Path | Callable[[], None] = PROGRAM,
    into: Plan | None = None,
    previous_outputs: Mapping[str, Any] | None = None,
    world: fakes.World = fakes.WORLD,
) -> Plan:
    """Evaluates the program once under mocks and returns what it registered and exported.

    `into` receives the registrations as they happen, so a caller can inspect a failed evaluation.
    `previous_outputs` are the outputs of the stack's last update (none: the first deployment).
    `world` is what the providers answer (offline.scenarios changes it: a replaced server, a new CA).
    """
    config, secret_keys = stack_config(stack, overrides)
    plan = into if into is not None else Plan(stack=stack, preview=preview)
    plan.known_secrets.update({v: f"secret:{k.split(':', 1)[1]}" for k, v in config.items() if k in secret_keys})
    monitor = RecordingMonitor(PlanMocks(plan.known_secrets, previous_outputs or {}, world))
    plan.registrations = monitor.registrations

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

    _sync_await(run_pulumi_func(evaluate))
    exported = getattr(root, "outputs", {})
    plan.outputs = {name: _sync_await(_resolve(value)) for name, value in sorted(exported.items())}
    # The mock monitor serves registrations from a thread pool: their order is not the program's.
    plan.registrations.sort(key=lambda r: r.urn)
    return plan
