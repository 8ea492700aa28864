"""Shared fixtures: the prod stack config as the CLI would pass it, and one offline evaluation of it."""

from __future__ import annotations

import fcntl
import gc
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from components.config.load import load_stack_config
from components.config.model import StackConfig
from components.config.reader import NAMESPACE
from offline.harness import run_program
from offline.records import Plan
from offline.stack_config import provider_environment, stack_config

# A worker keeps many plans alive (session fixtures, per-module caches), and the cyclic collector rescans all of
# them every few hundred allocations: a mock-engine run spent about a fifth of its CPU there (profiled: asyncio's
# create_task, where the allocations trigger it). Collections still run, a hundred times less often; no test
# relies on a cycle being freed at once.
gc.set_threshold(70_000, 20, 20)

PREFIX = NAMESPACE + ":"
T = TypeVar("T")


def session_dir(factory: pytest.TempPathFactory) -> Path:
    """A directory of this test session that all its pytest-xdist workers share: each worker's basetemp is
    <the session's dir>/popen-gwN (pytest-xdist's documented way to run a session fixture once)."""
    base = factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


def once_per_session(factory: pytest.TempPathFactory, name: str, compute: Callable[[Path], T]) -> T:
    """compute(<a directory of its own>) once per test session, whichever worker asks first; the others wait
    for it and read its pickled result. For fixtures that take tens of seconds (tests/test_plan_diff.py
    renders three plans): a module fixture is built again in every worker that gets one of its tests."""
    shared = session_dir(factory)
    result = shared / f"{name}.pickle"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result.exists():
            value: T = pickle.loads(result.read_bytes())
            return value
        work = shared / name
        work.mkdir()
        value = compute(work)
        result.write_bytes(pickle.dumps(value))
        return value


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
def prod_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The whole program evaluated once for prod (update mode), once per session (8 s), not per worker."""
    return once_per_session(tmp_path_factory, "prod-plan", lambda _: run_program("prod"))


@pytest.fixture(scope="session")
def strict_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """prod in sslMode strict (phase 1 of Authenticated Origin Pulls), evaluated once per session."""
    return once_per_session(tmp_path_factory, "strict-plan", lambda _: run_program("prod", {"sslMode": "strict"}))


def rekeyed_host_key(plan: Plan, step_name: str) -> str:
    """The host key a node made itself after first boot (the output of its `-rekey` step, as the offline
    fakes answer it): what every step after first boot pins (components/k3s/host_key.py)."""
    from offline.fakes import outputs_for

    step = plan.get("command:remote:Command", step_name)
    return str(outputs_for(step.type, step.name, step.inputs, {})["stdout"]).strip()
