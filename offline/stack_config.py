"""The stack config as `pulumi preview` would pass it: Pulumi.yaml defaults, Pulumi.<stack>.yaml, and a
recognisable placeholder for every secret."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.config.reader import NAMESPACE

PROJECT_DIR = Path(__file__).resolve().parents[1]
PLACEHOLDER = "PLACEHOLDER"
# Optional secrets whose presence changes what the program builds: unset unless a caller sets them
# (k3sToken: set, the cluster takes it instead of generating one).
UNSET_SECRETS = frozenset({"k3sToken"})


def secret_placeholder(key: str) -> str:
    """A recognisable value for a secret key that still passes validation."""
    if key == "databaseUrl":
        return f"postgresql://honeydue:{PLACEHOLDER}-databaseUrl@ep-placeholder-pooler.eu-central-1.aws.neon.tech/honeydue?sslmode=verify-full"
    if key == "hcloudCsiToken":
        # Hetzner's tokens are 64 letters and digits (components.config.checks.HCLOUD_TOKEN).
        return f"{PLACEHOLDER}{key}".ljust(64, "0")
    return f"{PLACEHOLDER}-{key}-0123456789abcdef0123"


# The environment variables the stack's ESC environment sets for a run (esc/prod.yaml environmentVariables):
# the providers' tokens, never stack config (components/config/load.py PROVIDER_TOKENS).
PROVIDER_ENVIRONMENT = {
    # Hetzner's tokens are 64 letters and digits; Cloudflare's 40 to 120 of [A-Za-z0-9_-].
    "HCLOUD_TOKEN": f"{PLACEHOLDER}HCLOUDTOKEN".ljust(64, "0"),
    "CLOUDFLARE_API_TOKEN": f"{PLACEHOLDER}-CLOUDFLARE_API_TOKEN-0123456789abcdef0123",
}


def provider_environment(changes: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
    """The run's environment variables: placeholder tokens, with `changes` on top (None: unset)."""
    return {**PROVIDER_ENVIRONMENT, **(changes or {})}


class StackFileError(Exception):
    """The stack file is missing or not YAML: one sentence, the file and where, no traceback."""


def _stack_file(project_dir: Path, stack: str) -> dict[str, Any]:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"{path.name} does not exist: no stack {stack!r} here (stacks: {', '.join(known)})")
    try:
        document = _parsed(path, _UniqueKeyLoader) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise StackFileError(f"{path.name} is not valid YAML{where}: {problem}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config") or {}, dict):
        raise StackFileError(f"{path.name} must be a mapping with a `config:` section of key: value lines")
    return document


class _UniqueKeyLoader(yaml.SafeLoader):
    """The CLI reads stack files with go-yaml v3, which refuses a key given twice ("mapping key … already
    defined"); PyYAML would keep the last one silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice (the Pulumi CLI refuses that)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _encode(value: Any) -> str:
    """A config value as the CLI hands it to the program: JSON for arrays, lower-case booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def declared_config(project_dir: Path = PROJECT_DIR) -> dict[str, dict[str, Any]]:
    """The `config:` block of Pulumi.yaml."""
    return dict(_parsed(project_dir / "Pulumi.yaml", yaml.SafeLoader)["config"])


def _parsed(path: Path, loader: type[yaml.SafeLoader]) -> Any:
    """The YAML document at `path`, a copy of it: parsed once per content (PyYAML's pure-Python parser took a
    fifth of an offline evaluation's CPU re-reading Pulumi.yaml; the plan, the scenarios and the tests evaluate
    the program hundreds of times in one process)."""
    stat = path.stat()
    return copy.deepcopy(_parse_cached(path.resolve(), stat.st_mtime_ns, stat.st_size, _LOADERS.index(loader)))


_LOADERS: list[type[yaml.SafeLoader]] = [yaml.SafeLoader, _UniqueKeyLoader]


@functools.lru_cache(maxsize=32)
def _parse_cached(path: Path, mtime_ns: int, size: int, loader: int) -> Any:
    del mtime_ns, size  # part of the key only: an edited file is parsed again
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADERS[loader])


def stack_config(
    stack: str = "prod", overrides: Mapping[str, Any | None] | None = None, *, project_dir: Path = PROJECT_DIR
) -> tuple[dict[str, str], list[str]]:
    """Full-key config and secret keys as `pulumi preview` would pass them, secrets as placeholders.

    `overrides` maps short keys to raw values (encoded like the CLI does); None removes a key.
    """
    declared = declared_config(project_dir)
    values: dict[str, Any] = {k: spec["default"] for k, spec in declared.items() if "default" in spec}
    stack_file = _stack_file(project_dir, stack)
    prefix = NAMESPACE + ":"
    for full_key, value in (stack_file.get("config") or {}).items():
        if not isinstance(full_key, str):
            raise StackFileError(f"Pulumi.{stack}.yaml: config key {full_key!r} is not a `namespace:key` name")
        # A value set with `pulumi config set --secret` (a self-managed backend) is stored encrypted, which only
        # the CLI can open: offline it is a set secret, shown as its placeholder.
        is_encrypted = isinstance(value, dict) and set(value) == {"secure"}
        key = full_key.removeprefix(prefix)
        values[key] = secret_placeholder(key) if is_encrypted else value
    secret_keys = [k for k, spec in declared.items() if spec.get("secret")]
    for key in secret_keys:
        if key not in UNSET_SECRETS:
            values[key] = secret_placeholder(key)
    for key, value in (overrides or {}).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    # A key of another namespace in the stack file stays as it is (the CLI passes it so, and the program
    # names it); a short key is this program's.
    config = {(k if ":" in k else prefix + k): _encode(v) for k, v in values.items()}
    return config, [prefix + k for k in secret_keys if k in values]
