"""What `make smoke` and `make status` share: the stack's outputs, its public names, and kubectl with the
operator kubeconfig, every call bounded by a timeout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
KUBECTL_TIMEOUT = 30
"""Seconds any one kubectl call may take (its own --request-timeout is shorter)."""


class OpsError(Exception):
    """A check could not even run (no outputs, no kubectl): the message says what to fix."""


def load_outputs(path: str | None, stack: str) -> dict[str, Any]:
    """The stack outputs: from a JSON file, or `pulumi stack output --json --show-secrets`."""
    return _pulumi_json(path, stack, ["stack", "output", "--json"], "outputs", "--outputs")


def load_export(path: str | None, stack: str) -> dict[str, Any]:
    """The decrypted state: from a JSON file, or `pulumi stack export --show-secrets` (tools/state_secrets.py)."""
    return _pulumi_json(path, stack, ["stack", "export"], "state", "--state")


def _pulumi_json(path: str | None, stack: str, command: list[str], what: str, option: str) -> dict[str, Any]:
    if path:
        data: dict[str, Any] = json.loads(Path(path).read_text())
        return data
    if shutil.which("pulumi") is None:
        # One sentence instead of "[Errno 2] No such file or directory: 'pulumi'" (make smoke, make status).
        raise OpsError(f"the Pulumi CLI is not on PATH; install it or pass {option} FILE")
    try:
        run = subprocess.run(
            ["pulumi", *command, "--show-secrets", "--stack", stack],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        raise OpsError(f"cannot read the {what} of stack {stack}: {error}") from error
    if run.returncode != 0:
        raise OpsError(f"`pulumi {' '.join(command[:2])}` failed for stack {stack}: {run.stderr.strip()}")
    found: dict[str, Any] = json.loads(run.stdout)
    return found


@dataclass(frozen=True)
class Site:
    """The public names of a stack, from Pulumi.<stack>.yaml (none of them is secret)."""

    domain: str
    api_hostname: str
    admin_hostname: str


def load_site(stack: str, project_dir: Path = PROJECT_DIR) -> Site:
    config = (yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}
    try:
        return Site(config["honeydue:domain"], config["honeydue:apiHostname"], config["honeydue:adminHostname"])
    except KeyError as error:
        raise OpsError(f"Pulumi.{stack}.yaml lacks {error.args[0]}") from error


@dataclass(frozen=True)
class Kubectl:
    """kubectl against the cluster of a kubeconfig file."""

    kubeconfig: str
    binary: str = "kubectl"

    def command(self, args: Sequence[str]) -> list[str]:
        return [self.binary, "--kubeconfig", self.kubeconfig, "--request-timeout=20s", *args]

    def text(self, args: Sequence[str]) -> str:
        try:
            run = subprocess.run(
                self.command(args), capture_output=True, text=True, timeout=KUBECTL_TIMEOUT, check=False
            )
        except FileNotFoundError as error:
            raise OpsError("kubectl is not installed") from error
        except subprocess.TimeoutExpired as error:
            raise OpsError(f"kubectl {' '.join(args)} took longer than {KUBECTL_TIMEOUT} s") from error
        if run.returncode != 0:
            raise OpsError(f"kubectl {' '.join(args)} failed: {run.stderr.strip() or run.stdout.strip()}")
        return run.stdout

    def json(self, args: Sequence[str]) -> Any:
        return json.loads(self.text([*args, "-o", "json"]))


@contextmanager
def kubeconfig_file(outputs: dict[str, Any], given: str | None) -> Iterator[str]:
    """A kubeconfig path: the one given, or a `kubeconfig` output (older stacks) in a private temp file."""
    if given:
        yield given
        return
    text = outputs.get("kubeconfig")
    if not text:
        raise OpsError(
            "the stack exports no admin kubeconfig (docs/outputs.md): run `make kubeconfig` and pass"
            " --kubeconfig build/kubeconfig-<stack>.yaml (make smoke and make status do)"
        )
    handle, path = tempfile.mkstemp(prefix="honeydue-kubeconfig-")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        yield path
    finally:
        os.unlink(path)
