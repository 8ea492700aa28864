"""The Kubernetes part of `make adopt-check`: live objects the program takes over (upsert) in adopt mode.

With upsert_existing_objects the provider's create of an object that exists applies the program's object
over the live one (GUIDE.md section 3). Fields the API server treats as immutable can't be changed that way:
the apply fails, and later diffs replace the object (pulumi-kubernetes provider/pkg/provider/diff.go,
`forceNew`: Deployment .spec.selector; StatefulSet .spec.selector, .serviceName, .volumeClaimTemplates,
.podManagementPolicy; Service .spec.clusterIP, .spec.type; Secret .type). A replaced redis StatefulSet
loses nothing by itself, but a changed volumeClaimTemplate would give it a new, empty volume.
"""

from __future__ import annotations

from typing import Any

from offline.records import Plan

# (kind, path) of fields the API server rejects changing; path as keys from the object's root.
IMMUTABLE: dict[str, tuple[tuple[str, ...], ...]] = {
    "Deployment": (("spec", "selector"),),
    "StatefulSet": (
        ("spec", "selector"),
        ("spec", "serviceName"),
        ("spec", "podManagementPolicy"),
        ("spec", "volumeClaimTemplates"),
    ),
    "Service": (("spec", "clusterIP"), ("spec", "type")),
    "Secret": (("type",),),
}
# Compared as far as the program sets them: server-side defaults (status, uid, a template's
# creationTimestamp, a claim's volumeMode) are not differences.
_IGNORED_KEYS = {"status", "creationTimestamp", "uid", "resourceVersion", "managedFields", "annotations", "volumeMode"}


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _within(program: Any, live: Any) -> bool:
    """Whether everything `program` sets is so in `live` (live may hold more: server-side defaults)."""
    if isinstance(program, dict):
        return isinstance(live, dict) and all(k in _IGNORED_KEYS or _within(v, live.get(k)) for k, v in program.items())
    if isinstance(program, list):
        return isinstance(live, list) and len(program) == len(live) and all(map(_within, program, live))
    return bool(program == live)


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return obj.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


def _images(obj: dict[str, Any]) -> dict[str, str]:
    containers = _at(obj, ("spec", "template", "spec", "containers")) or []
    return {c.get("name", ""): c.get("image", "") for c in containers}


def kubernetes_findings(plan: Plan, live_objects: list[dict[str, Any]]) -> list[tuple[str, str, str, Any, Any]]:
    """(kind, resource, field, program, live) of every Kubernetes difference that matters."""
    program = {_key(r.inputs): r for r in plan.registrations if r.type.startswith("kubernetes:") and r.custom}
    namespaces = {ns for _, ns, _ in program if ns}
    findings: list[tuple[str, str, str, Any, Any]] = []
    for obj in live_objects:
        key = _key(obj)
        reg = program.get(key)
        if reg is None:
            if key[1] in namespaces and key[0] not in ("Pod", "ReplicaSet", "Endpoints", "EndpointSlice", "Event"):
                findings.append(("UNMANAGED", f"{key[0]} {key[1]}/{key[2]}", "kubernetes object", None, None))
            continue
        for path in IMMUTABLE.get(key[0], ()):
            wanted, found = _at(reg.inputs, path), _at(obj, path)
            if wanted is not None and not _within(wanted, found):
                findings.append(("K8S IMMUTABLE", reg.name, ".".join(path), wanted, found))
        wanted_images, found_images = _images(reg.inputs), _images(obj)
        if wanted_images and wanted_images != found_images:
            findings.append(("UPDATED", reg.name, "containers[].image", wanted_images, found_images))
    return findings
