"""Evaluates one checkout of the project offline and dumps what `make plan-diff` compares.

Run as a script with the checkout to dump as working directory:

    python offline/plan_dump.py --project <checkout> --out <dir>

It writes `<dir>/resources.json` (every registration: options and inputs, each secret replaced by a
hash of its value, never the value) and `<dir>/plan/` (that checkout's own `make plan` artifacts:
node scripts, cloud-init, Kubernetes YAML). It imports the *checkout's* harness and program, so a base
commit is rendered with its own code and config; this file only relies on the harness API that every
commit has had (`run_program`, `write_plan`, `Registration` fields, `SecretValue.value`) and
recognises the harness's wrapper types by name, so it also works on commits older than itself.
Standard library only: it must not import anything from the tree it is copied out of.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

SECRET_KEY = "[secret]"
# Exceptions by which a checkout refuses its config or stack file (components.config.reader.ConfigError is a
# pulumi.RunError; offline.stack_config.StackFileError).
REFUSALS = frozenset({"RunError", "StackFileError", "DeployedOutputsError"})


def secret_digest(value: Any) -> str:
    """A short hash of a secret's value: equal values compare equal, the value never shows."""
    canonical = json.dumps(encode(value), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode(value: Any) -> Any:
    """Plain JSON data: a secret becomes {"[secret]": <digest>}, an unknown becomes "[unknown]"."""
    kind = type(value).__name__
    if kind == "SecretValue":
        return {SECRET_KEY: secret_digest(value.value)}
    if kind == "Unknown":
        return "[unknown]"
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def registration_record(reg: Any) -> dict[str, Any]:
    """Every recorded field of one registration (whatever this checkout's harness records)."""
    return {field.name: encode(getattr(reg, field.name)) for field in dataclasses.fields(reg)}


def dump(project: Path, out: Path, stack: str) -> int:
    sys.path.insert(0, str(project))
    from offline.harness import run_program  # type: ignore[import-not-found,unused-ignore]
    from offline.plan import write_plan  # type: ignore[import-not-found,unused-ignore]

    plan = run_program(stack)
    resources = {reg.urn: registration_record(reg) for reg in plan.registrations}
    document = {"stack": stack, "resources": resources, "outputs": encode(plan.outputs)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "resources.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    write_plan(plan, out / "plan", render_graph=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args(argv)
    # Run as a script, Python put this file's directory first on the path: drop it, so that every
    # import below comes from the checkout being dumped.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    try:
        return dump(args.project.resolve(), args.out.resolve(), args.stack)
    except Exception as error:
        # The checkout's own refusals (its config, its stack file) are what a reviewer reads: their message,
        # no traceback. Recognised by name, as this file imports nothing of the checkout; anything else is a
        # bug and keeps its traceback.
        if not any(c.__name__ in REFUSALS for c in type(error).__mro__):
            raise
        print(str(error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
