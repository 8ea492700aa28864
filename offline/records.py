"""What the offline harness records of one evaluation: each registration, the plan, secret and unknown values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


def served_outputs(value: Any) -> Any:
    """Outputs as the backend serves them to the next update (secrets decrypted): the stack's own
    outputs fed back through its StackReference (`run_program(previous_outputs=...)`)."""
    if isinstance(value, SecretValue):
        return served_outputs(value.value)
    if isinstance(value, dict):
        return {k: served_outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [served_outputs(v) for v in value]
    return value


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
    resource_outputs: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    """URN -> (id, outputs) as the engine would store them in the state (never written to a report)."""

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
