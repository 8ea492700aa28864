"""The workflow files as data, for the workflow tests (tests/test_workflows.py, tests/test_workflow_credentials.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
NAMES = ("preview", "plan-diff", "plan-diff-comment", "up", "drift", "status")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def environments() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((PROJECT_DIR / ".github" / "environments.yml").read_text()))


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_id, job) for name in NAMES for job_id, job in load(name)["jobs"].items()]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if str(s.get("uses", "")).startswith(action + "@")]


def only(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = uses(job, action)
    return step


def environment_name(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment if isinstance(environment, str) or environment is None else environment["name"]


def triggers(name: str) -> set[str]:
    on = load(name)["on"]
    return {on} if isinstance(on, str) else set(on)
