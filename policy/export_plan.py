"""Writes what the real program registers as a JSON fixture for the policy pack's tests.

Runs with the MAIN venv (it evaluates `__main__.py` under the offline mock engine, `offline.harness`);
the policy tests read the JSON with the policy venv, whose protobuf is older and can't import the program.

    venv/bin/python policy/export_plan.py --out-dir build/policy

writes `<stack>.json`: every RegisterResource request of one evaluation (as an update), each with what
the engine hands a policy pack's Analyze call: type, name, URN, inputs, protect, additionalSecretOutputs,
ignoreChanges …

Inputs are in the engine's wire format, so `pulumi_policy` deserialises them exactly as it does for the
CLI: a secret is `{SIG: SECRET_SIG, "value": …}` and an unknown is the unknown-string sentinel. Secret
values stay structured (a script keeps its text) but every secret the offline world made up is replaced
by its label, e.g. `<secret:databaseUrl>`; the file never holds one (checked before it is written).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

PROJECT_DIR = Path(__file__).resolve().parents[1]
FORMAT_VERSION = 1
# The wire encoding of special values, as the SDK defines it.
SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig
UNKNOWN_STRING = rpc.UNKNOWN


def _wire(value: Any, records: Any, redact: Any) -> Any:
    if isinstance(value, records.SecretValue):
        return {SIG_KEY: SECRET_SIG, "value": _wire(value.value, records, redact)}
    if isinstance(value, records.Unknown):
        return UNKNOWN_STRING
    if isinstance(value, dict):
        return {k: _wire(v, records, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(v, records, redact) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def export(stack: str) -> dict[str, Any]:
    """One evaluation of the program as a JSON-ready document."""
    harness = importlib.import_module("offline.harness")
    records = importlib.import_module("offline.records")
    plan = harness.run_program(stack)
    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "custom": r.custom,
            "parent": r.parent,
            "provider": r.provider,
            "protect": r.protect,
            "ignoreChanges": list(r.ignore_changes),
            "additionalSecretOutputs": list(r.additional_secret_outputs),
            "deleteBeforeReplace": r.delete_before_replace,
            "importId": r.import_id,
            "customTimeouts": r.custom_timeouts,
            "dependencies": list(r.dependencies),
            "inputs": _wire(r.inputs, records, plan.redact),
        }
        for r in plan.registrations
    ]
    return {
        "format": FORMAT_VERSION,
        "stack": stack,
        # The labels that replaced made-up secrets: a label outside a secret wrapper is a leaked secret.
        "secretLabels": sorted({f"<{label}>" for label in plan.known_secrets.values()}),
        "resources": resources,
        "_known_secrets": list(plan.known_secrets),
    }


def write(document: dict[str, Any], path: Path) -> None:
    """Writes the document; refuses if any made-up secret value survived redaction."""
    known = document.pop("_known_secrets")
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    leaked = [secret for secret in known if secret and secret in text]
    if leaked:
        raise SystemExit(f"refusing to write {path}: {len(leaked)} secret value(s) survived redaction")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--out-dir", type=Path, default=PROJECT_DIR / "build" / "policy")
    args = parser.parse_args(argv)
    out_dir = args.out_dir.resolve()
    # The program imports `components` and reads files relative to the project: run it from there.
    sys.path.insert(0, str(PROJECT_DIR))
    os.chdir(PROJECT_DIR)
    path = out_dir / f"{args.stack}.json"
    write(export(args.stack), path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
