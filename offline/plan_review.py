"""Compares two offline plans (dumped by offline/plan_dump.py) and writes the review as Markdown.

Renames: a resource's URN is `urn:pulumi:<stack>::<project>::<parent type chain>$<type>::<name>`
(https://www.pulumi.com/docs/iac/concepts/resources/names/#urns), so moving a resource under another
parent, or renaming it or an ancestor's type, gives it a new URN, and the engine deletes the old
resource and creates a new one unless the new registration carries an alias of the old URN
(https://www.pulumi.com/docs/iac/concepts/options/aliases/). A removed and an added URN are paired as a
rename when they have the same type and name (moved under another parent, or an ancestor renamed),
otherwise when they have the same type and byte-identical inputs (the name alone changed). Each pair
is flagged, so that a reviewer checks for an alias instead of reading a delete and a create.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from offline.plan_summary import engine_summary

MARKER = "<!-- honeydue-plan-diff -->"
SECRET_KEY = "[secret]"
# What identifies a registration, not a property of it; `id` is the mock's, derived from the name.
IDENTITY = ("urn", "id", "type", "name", "inputs")
MAX_VALUE = 100
MAX_DOCUMENT_LINES = 400
# An added or removed document is all new or all gone: its first lines say what it is.
WHOLE_DOCUMENT_LINES = 40


@dataclass(frozen=True)
class Side:
    """One rendered plan: registrations by URN, stack outputs, and node/Kubernetes documents by path."""

    label: str
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, Any]
    documents: dict[str, str]


@dataclass(frozen=True)
class Rename:
    old: str
    new: str
    reason: str


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SECRET_KEY}


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf path -> value (`a.b[0].c`); a secret is one leaf."""
    if isinstance(value, dict) and value and not is_secret(value):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{path}.{key}" if path else key).items()}
    if isinstance(value, list) and value:
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()}
    return {path: value}


def shown(value: Any) -> str:
    """A leaf as the review prints it: secrets never, long values shortened."""
    if is_secret(value):
        return "[secret]"
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) or "\n" in value else value
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _fingerprint(record: dict[str, Any]) -> str:
    return json.dumps(record.get("inputs"), sort_keys=True)


def find_renames(removed: list[str], added: list[str], before: Side, after: Side) -> list[Rename]:
    """Pairs removed and added URNs that are the same resource under a new URN (module docstring)."""
    renames: list[Rename] = []
    left, right = list(removed), list(added)
    rules = (
        (lambda r: (r["type"], r["name"]), "same type and name under another parent"),
        (lambda r: (r["type"], _fingerprint(r)), "same type and identical inputs under another name"),
    )
    for key, reason in rules:
        for old in list(left):
            matches = [new for new in right if key(after.resources[new]) == key(before.resources[old])]
            if len(matches) == 1:
                renames.append(Rename(old, matches[0], reason))
                left.remove(old)
                right.remove(matches[0])
    return renames


# Their text properties are rendered as documents below (node scripts, cloud-init, Kubernetes YAML):
# the property list only says that they changed.
DOCUMENT_TYPES = ("command:remote:Command", "hcloud:index/server:Server", "kubernetes:")


_DEFAULTS: tuple[Any, ...] = (None, "", [], {}, False)


def property_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`~ path: old → new` lines for inputs and options that differ; secrets compared by hash only."""
    inline_text = not str(new.get("type", "")).startswith(DOCUMENT_TYPES)
    ignored = {str(key) for key in new.get("ignore_changes") or ()}
    # An option at its default is the same as an option an older harness did not record at all.
    options_a = {k: v for k, v in old.items() if k not in IDENTITY and v not in _DEFAULTS}
    options_b = {k: v for k, v in new.items() if k not in IDENTITY and v not in _DEFAULTS}
    lines = _dependency_changes(options_a, options_b)
    for section, a, b in (("", old.get("inputs") or {}, new.get("inputs") or {}), ("options.", options_a, options_b)):
        flat_a, flat_b = flatten(a), flatten(b)
        for path in sorted(set(flat_a) | set(flat_b)):
            before, after = flat_a.get(path, "<absent>"), flat_b.get(path, "<absent>")
            if before != after:
                top = re.split(r"[.\[]", path)[0]
                note = (
                    " (in ignoreChanges: the engine keeps the running value)"
                    if section == "" and top in ignored
                    else ""
                )
                lines += _leaf_change(section + path, before, after, note, inline_text)
    return lines


DEPENDENCY_OPTIONS = ("dependencies", "property_dependencies")


def _names(urns: Any) -> set[str]:
    return {str(u).rsplit("::", 1)[-1] for u in urns or ()}


def _dependency_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dependencies by name, added and removed, never as list indexes that shift (taken out of both)."""
    lines = []
    pairs = [("dependencies", old.pop("dependencies", ()), new.pop("dependencies", ()))]
    props_a, props_b = old.pop("property_dependencies", {}) or {}, new.pop("property_dependencies", {}) or {}
    pairs += [
        (f"property_dependencies.{k}", props_a.get(k, ()), props_b.get(k, ())) for k in sorted({*props_a, *props_b})
    ]
    for label, a, b in pairs:
        added, removed = sorted(_names(b) - _names(a)), sorted(_names(a) - _names(b))
        if added or removed:
            change = ", ".join([*(f"+ {n}" for n in added), *(f"- {n}" for n in removed)])
            lines.append(f"~ options.{label}: {change}")
    return lines


def _leaf_change(path: str, before: Any, after: Any, note: str, inline_text: bool) -> list[str]:
    if is_secret(before) and is_secret(after):
        return [f"~ {path}: [secret] changed (value hash differs){note}"]
    if isinstance(before, str) and isinstance(after, str) and "\n" in before + after:
        if not inline_text:
            return [f"~ {path}: text changed, see the document diffs below{note}"]
        return [f"~ {path}: text changed{note}", *["    " + line for line in _unified(before, after, path, path)]]
    return [f"~ {path}: {shown(before)} → {shown(after)}{note}"]


def _unified(before: str, after: str, old_name: str, new_name: str) -> list[str]:
    diff = list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), f"a/{old_name}", f"b/{new_name}", n=2, lineterm=""
        )
    )
    if len(diff) > MAX_DOCUMENT_LINES:
        diff = [*diff[:MAX_DOCUMENT_LINES], f"… {len(diff) - MAX_DOCUMENT_LINES} more diff lines (run make plan-diff)"]
    return diff


def _fenced(lines: list[str]) -> list[str]:
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "diff", *lines, fence]


def document_diffs(before: Side, after: Side, folder: str) -> list[str]:
    out: list[str] = []
    names = sorted(n for n in set(before.documents) | set(after.documents) if n.startswith(folder + "/"))
    for name in names:
        old, new = before.documents.get(name), after.documents.get(name)
        if old == new:
            continue
        status = "added" if old is None else "removed" if new is None else "changed"
        old_name, new_name = (name if old is not None else "/dev/null"), (name if new is not None else "/dev/null")
        diff = _unified(old or "", new or "", old_name, new_name)
        if status != "changed" and len(diff) > WHOLE_DOCUMENT_LINES:
            # A whole new (or gone) document: its head here, all of it in the run's artifact (build/plan/).
            diff = [
                *diff[:WHOLE_DOCUMENT_LINES],
                f"… {len(diff) - WHOLE_DOCUMENT_LINES} more lines: {name} in the artifact",
            ]
        out += [f"#### `{name}` ({status})", "", *_fenced(diff), ""]
    return out


def _section(title: str, body: list[str], intro: str = "") -> list[str]:
    return [f"### {title}", "", *([intro, ""] if intro else []), *body, ""] if body else []


def _rename_lines(renames: list[Rename], before: Side, after: Side) -> list[str]:
    lines = []
    for rename in renames:
        lines += [f"- `{rename.old}`", f"  → `{rename.new}` ({rename.reason})"]
        lines += ["  " + c for c in property_changes(before.resources[rename.old], after.resources[rename.new])]
    return lines


def review(before: Side, after: Side) -> str:
    """The whole review: summary, resources (renamed, added, removed, changed), outputs, documents."""
    removed = sorted(set(before.resources) - set(after.resources))
    added = sorted(set(after.resources) - set(before.resources))
    renames = find_renames(removed, added, before, after)
    removed = [u for u in removed if u not in {r.old for r in renames}]
    added = [u for u in added if u not in {r.new for r in renames}]
    changed = [
        [f"- `{urn}`", *["  " + c for c in lines]]
        for urn in sorted(set(before.resources) & set(after.resources))
        if (lines := property_changes(before.resources[urn], after.resources[urn]))
    ]
    body = [
        *_section(
            "⚠ Renamed (URN changed)",
            _rename_lines(renames, before, after),
            "Without an alias of the old URN the engine deletes the old resource and creates a new one; "
            "protected resources stop the update.",
        ),
        *_section("Added", [f"- `{urn}`" for urn in added]),
        *_section("Removed", [f"- `{urn}`" for urn in removed]),
        *_section("Changed", [line for block in changed for line in block]),
        *_section(
            "Stack outputs", [f"- {c}" for c in property_changes({"inputs": before.outputs}, {"inputs": after.outputs})]
        ),
        *_section("Node scripts and cloud-init", document_diffs(before, after, "nodes")),
        *_section("Kubernetes YAML", document_diffs(before, after, "k8s")),
    ]
    summary = (
        f"{len(added)} added, {len(changed)} changed, {len(removed)} removed, {len(renames)} renamed "
        "(mock engine, placeholder secrets: what the program registers, not what the cloud holds)."
    )
    header = [MARKER, f"## Offline plan diff: {before.label} → {after.label}", "", summary, ""]
    return "\n".join(
        header + (engine_summary(before.resources, after.resources) + body if body else ["No change.", ""])
    )
