"""Writes one evaluation of the program to `build/plan/` for review.

resources.md (every resource by component), k8s/ (one YAML per Kubernetes object, Secret data
redacted), nodes/ (cloud-init documents and every script that runs on a node), outputs.json (stack
outputs, secrets redacted), graph.dot/.svg/.png (components and how they depend on each other) and
graph-resources.dot/.svg (every resource and dependency). Deterministic:
everything is sorted and nothing carries a time or a random name.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from components.firewall.ufw import FIREWALL_SCRIPT_PATH
from components.hetzner.cloud_init import USER_DATA_LIMIT, user_data_size_bound
from components.remote import written_files
from components.yaml_text import dump_readable
from offline.critical_path import CriticalPath, critical_path_or_reason
from offline.graph import overview_dot, resources_dot
from offline.records import Plan, Registration, SecretValue, Unknown

STACK_URN_PART = "pulumi:pulumi:Stack"


def redacted(value: Any) -> Any:
    """Plain data with secrets as '[secret]' and unknowns as '[unknown]'."""
    if isinstance(value, SecretValue):
        return "[secret]"
    if isinstance(value, Unknown):
        return "[unknown]"
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def revealed(value: Any) -> Any:
    """Plain data with secret wrappers removed (callers must redact known secrets after)."""
    if isinstance(value, SecretValue):
        return revealed(value.value)
    if isinstance(value, Unknown):
        return "[unknown]"
    if isinstance(value, dict):
        return {k: revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revealed(v) for v in value]
    return value


def component_of(reg: Registration, by_urn: dict[str, Registration]) -> str:
    """The name of the nearest parent component ('stack' at the top)."""
    parent = _nearest_component(reg, by_urn)
    return f"{parent.type} {parent.name}" if parent else "stack"


def _nearest_component(reg: Registration, by_urn: dict[str, Registration]) -> Registration | None:
    parent = by_urn.get(reg.parent)
    while parent is not None and parent.custom:
        parent = by_urn.get(parent.parent)
    return parent


def is_retired(reg: Registration) -> bool:
    """A step kept only under its old name: no script at all, and never deleted (components/k3s/steps.py)."""
    scripts = ("create", "update", "delete")
    return reg.type.startswith("command:") and reg.retain_on_delete and not any(reg.inputs.get(s) for s in scripts)


def _notes(reg: Registration) -> str:
    if is_retired(reg):
        return "retired: no script, kept so its old delete never runs (retainOnDelete)"
    return "retainOnDelete" if reg.retain_on_delete else "-"


def resources_markdown(plan: Plan) -> str:
    """Every resource by component. A component's own dependsOn reaches each child (components/anatomy.py
    child_options): listed once under the component, so each row shows what that resource itself waits for."""
    by_urn = plan.by_urn()
    groups: dict[str, list[Registration]] = defaultdict(list)
    for reg in plan.registrations:
        groups[component_of(reg, by_urn)].append(reg)
    lines = [f"# Resources of stack `{plan.stack}` ({len(plan.registrations)})", ""]
    for group in sorted(groups):
        lines += [f"## {group}", ""]
        component = _nearest_component(groups[group][0], by_urn)
        inherited = set(component.dependencies) if component else set()
        if inherited:
            names = ", ".join(sorted(by_urn[d].name for d in inherited if d in by_urn))
            lines += [f"Every resource here also waits for what the component waits for: {names}.", ""]
        lines += [
            "| type | name | protect | ignoreChanges | depends on (its own) | notes |",
            "|---|---|---|---|---|---|",
        ]
        for reg in sorted(groups[group], key=lambda r: (r.type, r.name)):
            own = sorted(by_urn[d].name for d in reg.dependencies if d in by_urn and d not in inherited)
            ignore = ", ".join(reg.ignore_changes) or "-"
            row = [f"`{reg.type}`", reg.name, "yes" if reg.protect else "-", ignore, ", ".join(own) or "-", _notes(reg)]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def kubernetes_manifest(reg: Registration) -> dict[str, Any]:
    """The object a Kubernetes registration describes, Secret data always redacted."""
    inputs = redacted(reg.inputs)
    group_version, kind = reg.type.removeprefix("kubernetes:").rsplit(":", 1)
    manifest: dict[str, Any] = {"apiVersion": group_version.removeprefix("core/"), "kind": kind}
    manifest.update({k: v for k, v in inputs.items() if k not in ("apiVersion", "kind")})
    if kind == "Secret":
        # The SDK makes the whole map secret; show its keys, never a value.
        for field_name in ("data", "stringData"):
            values = revealed(reg.inputs.get(field_name))
            if isinstance(values, dict):
                manifest[field_name] = dict.fromkeys(sorted(values), "[secret]")
    return manifest


def _is_kubernetes_object(reg: Registration) -> bool:
    return reg.type.startswith("kubernetes:") and not reg.type.startswith("kubernetes:helm.sh/")


def _file_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "--".join(p for p in parts if p)).lower()


def node_documents(plan: Plan) -> dict[str, str]:
    """File name -> text of every cloud-init document and script that runs on a node."""
    docs: dict[str, str] = {}
    for reg in plan.by_type("hcloud:index/server:Server"):
        user_data = revealed(reg.inputs.get("userData"))
        if not isinstance(user_data, str):
            continue
        docs[f"{reg.name}/cloud-init.yaml"] = user_data
        document = yaml.safe_load(user_data) or {}
        for item in document.get("write_files") or []:
            docs[f"{reg.name}/files{item['path']}"] = str(item.get("content", ""))
    for reg in plan.by_type("command:remote:Command"):
        for step in ("create", "update", "delete"):
            script = revealed(reg.inputs.get(step))
            if isinstance(script, str):
                docs[f"commands/{reg.name}.{step}.sh"] = script
    docs |= converged_files(plan)
    return {name: plan.redact(text) for name, text in docs.items()}


def converged_files(plan: Plan) -> dict[str, str]:
    """`<node>/files/<path>` of each file a node's day-2 step (`-converge`) writes, as that node gets it: its
    K3s config.yaml among them, with the node's addresses (real ones with `make plan --live`)."""
    node_of = {
        outputs.get("ipv4Address"): plan.by_urn()[urn].name
        for urn, (_, outputs) in plan.resource_outputs.items()
        if plan.by_urn().get(urn) and plan.by_urn()[urn].type == "hcloud:index/server:Server"
    }
    found: dict[str, str] = {}
    for reg in plan.by_type("command:remote:Command"):
        connection, script = revealed(reg.inputs.get("connection")), revealed(reg.inputs.get("create"))
        node = node_of.get(connection.get("host")) if isinstance(connection, dict) else None
        if node and reg.name.endswith("-converge") and isinstance(script, str):
            found |= {f"{node}/files{path}": f.content for path, f in written_files(script).items()}
    return found


def user_data_headroom(plan: Plan) -> tuple[int, int]:
    """(bytes, bytes to spare): the largest user data any node may get, with host keys of their longest form
    (components.hetzner.cloud_init.user_data_size_bound), against Hetzner's limit."""
    largest = 0
    for reg in plan.by_type("hcloud:index/server:Server"):
        user_data = revealed(reg.inputs.get("userData"))
        if not isinstance(user_data, str):
            continue
        files = {f["path"]: f.get("content", "") for f in (yaml.safe_load(user_data) or {}).get("write_files") or []}
        name = str(revealed(reg.inputs.get("name")) or reg.name)
        largest = max(largest, user_data_size_bound(name, files[FIREWALL_SCRIPT_PATH]))
    return largest, USER_DATA_LIMIT - largest


def outputs_json(plan: Plan) -> str:
    return json.dumps(redacted(plan.outputs), indent=2, sort_keys=True) + "\n"


def write_plan(plan: Plan, out: Path, *, render_graph: bool = True) -> list[Path]:
    """Writes every artifact under `out` (emptied first) and returns the files written."""
    if out.exists():
        shutil.rmtree(out)
    # Both pictures highlight the critical path to serving traffic; plain when it can't be computed.
    found = critical_path_or_reason(plan)
    critical = found if isinstance(found, CriticalPath) else None
    files: dict[str, str] = {
        "resources.md": resources_markdown(plan),
        "outputs.json": outputs_json(plan),
        "graph.dot": overview_dot(plan, critical=critical),
        "graph-resources.dot": resources_dot(plan, critical=critical),
    }
    for reg in plan.registrations:
        if _is_kubernetes_object(reg):
            manifest = kubernetes_manifest(reg)
            meta = manifest.get("metadata") or {}
            name = _file_name(meta.get("namespace", "cluster"), manifest["kind"], meta.get("name", reg.name))
            files[f"k8s/{name}.yaml"] = dump_readable(manifest, sort_keys=True)
    for name, text in node_documents(plan).items():
        files[f"nodes/{name}"] = text
    written = []
    for rel, text in sorted(files.items()):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    if render_graph:
        for source, fmt in (("graph", "svg"), ("graph", "png"), ("graph-resources", "svg")):
            target = out / f"{source}.{fmt}"
            subprocess.run(["dot", f"-T{fmt}", "-o", str(target), str(out / f"{source}.dot")], check=True)
            written.append(target)
    return written
