"""Helpers for the policy tests: CrossGuard arguments built as the SDK builds them, and the recorded plan.

Nothing here starts the Pulumi CLI or a policy server. `resource_args` builds ResourceValidationArgs with
props wrapped in pulumi_policy's unknown-checking proxy, exactly as Analyze does; `analyze` feeds the
recorded plan through the SDK's own Analyze servicer (protobuf request in, diagnostics out), the code the
CLI talks to over gRPC, so wire-format decoding, enforcement levels and unknown handling are the real ones.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from google.protobuf import json_format
from honeydue_policies import PACK_NAME, POLICIES
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.policy import _PolicyAnalyzerServicer  # the servicer PolicyPack serves; no public handle
from pulumi_policy.proxy import unknown_checking_proxy

PROJECT_DIR = Path(__file__).resolve().parents[2]
POLICY_DIR = PROJECT_DIR / "policy"
MAIN_PYTHON = PROJECT_DIR / "venv" / "bin" / "python"
BY_NAME = {p.name: p for p in POLICIES}
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
MANDATORY = analyzer_pb2.MANDATORY


def resource_args(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "res",
    stack: str = "prod",
    protect: bool = False,
    secret_outputs: Iterable[str] = (),
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    """What CrossGuard passes a resource policy for one resource."""
    opts = PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), list(secret_outputs), None)
    urn = f"urn:pulumi:{stack}::honeydue::{resource_type}::{name}"
    props_proxy = unknown_checking_proxy(copy.deepcopy(dict(props)))
    return ResourceValidationArgs(resource_type, props_proxy, urn, name, opts, None, dict(config or {}))


def violations(policy: str, args: ResourceValidationArgs) -> list[str]:
    """The messages one policy reports for one resource."""
    found: list[str] = []
    BY_NAME[policy].validate(args, lambda message, urn=None: found.append(message))
    return found


class Diagnostic(NamedTuple):
    policy: str
    urn: str
    message: str
    level: int


def analyze(resources: Iterable[Mapping[str, Any]]) -> list[Diagnostic]:
    """Every diagnostic the pack reports for recorded resources (wire-format inputs)."""
    # Pack default advisory: a diagnostic is mandatory only because its policy says so.
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", POLICIES, EnforcementLevel.ADVISORY)
    found = []
    for r in resources:
        request = analyzer_pb2.AnalyzeRequest(
            type=r["type"],
            urn=r["urn"],
            name=r["name"],
            options=analyzer_pb2.AnalyzerResourceOptions(
                protect=r["protect"],
                ignoreChanges=r["ignoreChanges"],
                additionalSecretOutputs=r["additionalSecretOutputs"],
                parent=r["parent"],
            ),
        )
        json_format.ParseDict(r["inputs"], request.properties)
        response = servicer.Analyze(request, None)
        found += [
            Diagnostic(d.policyName, d.urn or r["urn"], d.message, d.enforcementLevel) for d in response.diagnostics
        ]
    return found


def mandatory(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.level == MANDATORY]


@pytest.fixture(scope="session")
def prod_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The resources the real program registers for prod (policy/export_plan.py).

    tests/test_policy_pack.py exports it once and passes HONEYDUE_PLAN_DIR; run alone, the tests export
    it themselves with the main venv.
    """
    given = os.environ.get("HONEYDUE_PLAN_DIR")
    out_dir = Path(given) if given else tmp_path_factory.mktemp("plan")
    if not given:
        if not MAIN_PYTHON.exists():
            pytest.fail(f"{MAIN_PYTHON} is missing: run `make venv/.installed` (the export runs the program)")
        subprocess.run(
            [str(MAIN_PYTHON), str(POLICY_DIR / "export_plan.py"), "--out-dir", str(out_dir)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    document: dict[str, Any] = json.loads((out_dir / "prod.json").read_text(encoding="utf-8"))
    return document


@pytest.fixture
def prod_resources(prod_plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A fresh deep copy of the recorded resources, free to mutate."""
    return copy.deepcopy(prod_plan["resources"])
