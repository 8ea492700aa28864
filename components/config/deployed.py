"""The checks that need what the stack last deployed besides its config: run by components.stack.build
after the read-only lookups and before the first resource, so a refusal leaves nothing behind."""

from __future__ import annotations

from components.config import checks
from components.config.model import StackConfig
from components.config.reader import NAMESPACE


def deployed_state_problems(
    config: StackConfig, *, previous_version: str | None, previous_token_source: str | None
) -> list[str]:
    """Every problem of moving from the deployed state (the stack's own outputs) to `config`."""
    problems = []
    upgrade = checks.k3s_upgrade(previous_version, config.k3s.version)
    if upgrade:
        problems.append(f"{NAMESPACE}:k3sVersion: {upgrade}")
    token_source = "random" if config.k3s.token is None else "config"
    switch = checks.k3s_token_switch(previous_token_source, token_source)
    if switch:
        problems.append(f"{NAMESPACE}:k3sToken: {switch}")
    return problems
