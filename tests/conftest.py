"""Shared fixtures: the prod stack config as the CLI would pass it, and one offline evaluation of it."""

from __future__ import annotations

from typing import Any

import pytest

from components.config.load import load_stack_config
from components.config.model import StackConfig
from components.config.reader import NAMESPACE
from offline.harness import run_program
from offline.records import Plan
from offline.stack_config import provider_environment, stack_config

PREFIX = NAMESPACE + ":"


def prod_values(overrides: dict[str, Any | None] | None = None) -> tuple[dict[str, str], set[str]]:
    """Short-key raw values and secret keys of prod, with placeholders for secrets."""
    config, secret_keys = stack_config("prod", overrides)
    values = {k.removeprefix(PREFIX): v for k, v in config.items()}
    return values, {k.removeprefix(PREFIX) for k in secret_keys}


def load_prod(
    overrides: dict[str, Any | None] | None = None, environ: dict[str, str | None] | None = None
) -> StackConfig:
    """prod's config as the program reads it; `environ` changes the run's environment (the providers' tokens)."""
    values, secret_keys = prod_values(overrides)
    variables = {k: v for k, v in provider_environment(environ).items() if v is not None}
    return load_stack_config(values, secret_keys=secret_keys, stack="prod", environ=variables)


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    """The whole program evaluated once for prod (update mode)."""
    return run_program("prod")


def rekeyed_host_key(plan: Plan, step_name: str) -> str:
    """The host key a node made itself after first boot (the output of its `-rekey` step, as the offline
    fakes answer it): what every step after first boot pins (components/k3s/host_key.py)."""
    from offline.fakes import outputs_for

    step = plan.get("command:remote:Command", step_name)
    return str(outputs_for(step.type, step.name, step.inputs, {})["stdout"]).strip()
