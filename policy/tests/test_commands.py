"""secret-command-output."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import resource_args, violations

POLICY = "secret-command-output"
COMMAND = "command:remote:Command"
FETCH = """set -eu
cat >"$run" <<'EOF'
#!/usr/bin/env bash
kubeconfig=$root/etc/rancher/k3s/k3s.yaml
cat "$kubeconfig"
EOF
"""
# As components/k3s/cluster.py registers honeydue-k3s-kubeconfig.
SAFE = {"create": FETCH, "logging": "none", "addPreviousOutputInEnv": False}
SECRET_OUTPUTS = ("stdout", "stderr", "connection")


def command(name: str, props: dict[str, Any], secret_outputs: tuple[str, ...] = SECRET_OUTPUTS) -> list[str]:
    return violations(POLICY, resource_args(COMMAND, props, name=name, secret_outputs=secret_outputs))


def test_kubeconfig_fetch_as_registered_passes() -> None:
    assert command("honeydue-k3s-kubeconfig", SAFE) == []


@pytest.mark.parametrize(
    ("secret_outputs", "missing"),
    [(("connection",), "stdout and stderr are not"), (("stdout", "connection"), "stderr are not")],
)
def test_kubeconfig_without_secret_output_is_a_violation(secret_outputs: tuple[str, ...], missing: str) -> None:
    found = command("honeydue-k3s-kubeconfig", SAFE, secret_outputs)
    assert len(found) == 1 and missing in found[0], found


def test_secret_printing_is_found_by_script_not_only_by_name() -> None:
    found = command("honeydue-k3s-admin", SAFE, ("connection",))
    assert len(found) == 1 and "reads fetch-kubeconfig" not in found[0] and "k3s.yaml" in found[0]


def test_kubeconfig_with_logging_or_previous_output_is_a_violation() -> None:
    found = command("honeydue-k3s-kubeconfig", {"create": FETCH})
    assert len(found) == 2
    assert "logging 'stdoutAndStderr'" in found[0] and "add_previous_output_in_env=False" in found[1]


def test_command_that_prints_no_secret_needs_nothing() -> None:
    ready = {"create": "bash wait-ready.sh", "addPreviousOutputInEnv": False}
    assert command("honeydue-k3s-1-ready", ready, ("connection",)) == []
