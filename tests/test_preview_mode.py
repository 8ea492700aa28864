"""Previews without the apps' secrets (issue 22 item 3, components/preview_mode.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.config.reader import ConfigError
from components.k8s.checksums import SECRET_ANNOTATION
from components.preview_mode import SECRET_PATHS
from offline.engine_diff import diff_plans
from offline.harness import run_program
from offline.plan import revealed
from offline.records import Plan
from offline.stack_config import declared_config, secret_placeholder

TOKEN = "K10abc123::server:running-cluster-token-0123456789"
BLIND = {"previewWithoutSecrets": True, "k3sToken": TOKEN}


def _secret_values(plan: Plan) -> set[str]:
    return {v for v, label in plan.known_secrets.items() if label.startswith("secret:")}


def _strings(value: Any) -> list[str]:
    value = revealed(value)
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_every_input_a_secret_reaches_is_kept_as_the_state_holds_it() -> None:
    # Found in the plan, not listed by hand: every top-level input holding a config secret, and every pod
    # template carrying the secrets' digest, is under ignore_changes in this mode.
    plan = run_program("prod", BLIND, preview=True)
    secrets = _secret_values(plan)
    reached = 0
    for reg in plan.registrations:
        for name, value in reg.inputs.items():
            if any(s in text for text in _strings(value) for s in secrets):
                reached += 1
                assert name in reg.ignore_changes, f"{reg.type} {reg.name}: {name}"
        template = ((reg.inputs.get("spec") or {}).get("template") or {}).get("metadata") or {}
        if SECRET_ANNOTATION in (template.get("annotations") or {}):
            assert f'spec.template.metadata.annotations["{SECRET_ANNOTATION}"]' in reg.ignore_changes, reg.name
            assert reg.type in SECRET_PATHS
    assert reached >= 5  # the apps' Secrets and the servers' steps


def test_a_preview_with_other_secrets_than_the_state_shows_no_change() -> None:
    # The point of the mode: the read-only environment's placeholders never show as changes.
    state = run_program("prod", {"k3sToken": TOKEN})
    others = {
        key: re.sub(r"[0-9]", "7", secret_placeholder(key))
        for key, spec in declared_config().items()
        if spec.get("secret") and key != "k3sToken"
    }
    preview = run_program("prod", {**BLIND, **others, "k3sToken": TOKEN.replace("0123", "7777")}, preview=True)
    diff = diff_plans(state.registrations, preview.registrations)
    assert {(c.action, c.name) for c in diff.changes if c.action != "same"} == set()


def test_the_mode_is_refused_outside_a_preview() -> None:
    with pytest.raises(ConfigError, match="previewWithoutSecrets: is for previews"):
        run_program("prod", BLIND)
