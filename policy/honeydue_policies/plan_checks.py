"""Checks CrossGuard can't make, run on the recorded plan instead (policy/export_plan.py).

pulumi_policy hands a policy its props with secret wrappers removed, so "this Secret's values are
secret" and "no secret value leaks into a plaintext input" can't be policies. The recorded plan keeps the
engine's wire format — secrets as `{SIG_KEY: SECRET_SIG, "value": …}` — and every secret the offline
world made up replaced by a label such as `<secret:databaseUrl>`, so both can be proven there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SECRET_TYPE = "kubernetes:core/v1:Secret"


def is_secret(value: Any) -> bool:
    """Whether a wire-format value is wrapped as secret."""
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


def secret_input_problems(resource: Mapping[str, Any]) -> Iterator[str]:
    """A Kubernetes Secret whose data/stringData (as a whole or per key) is not a secret input."""
    if resource.get("type") != SECRET_TYPE:
        return
    inputs = resource.get("inputs") or {}
    for field in ("data", "stringData"):
        value = inputs.get(field)
        if value is None or is_secret(value):
            continue
        plain = sorted(k for k, v in value.items() if not is_secret(v)) if isinstance(value, Mapping) else ["*"]
        if plain:
            yield f"Secret {resource.get('name')}: {field} keys {', '.join(plain)} are plaintext inputs"


def _plain_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if is_secret(value):
        return
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _plain_strings(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _plain_strings(child, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def leaked_secret_problems(resource: Mapping[str, Any], labels: list[str]) -> Iterator[str]:
    """A known secret (by its redaction label) inside an input that is not wrapped as secret."""
    for path, text in _plain_strings(resource.get("inputs") or {}, "inputs"):
        for label in labels:
            if label in text:
                yield f"{resource.get('type')} {resource.get('name')}: {path} holds {label} in plaintext"
