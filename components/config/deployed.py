"""The checks that need what the stack last deployed besides its config: run by components.stack.build
after the read-only lookups and before the first resource, so a refusal leaves nothing behind."""

from __future__ import annotations

from components.config import checks
from components.config.model import StackConfig
from components.config.reader import NAMESPACE

DEPLOY_KEY_OUTPUT = "deployKeyGeneration"
"""Stack output: the deploy key generation every node holds once the `up` finished (hetzner.nodes)."""
ORIGIN_PULLS_OUTPUT = "originPulls"
"""Stack output: "off", "optional" (phase 1) or "required" (phase 2), once the `up` that set it finished
(edge/cutover.py)."""


def deployed_key_generation(previous_version: str | None, previous_generation: object) -> int | None:
    """The deploy key generation the running nodes hold: None before the first deployment (every node is new);
    1 for a stack deployed before the output existed (its key was the only one)."""
    if previous_version is None:
        return None
    if previous_generation is None:
        return 1
    # Outputs come back through the engine as JSON numbers (a float in Python).
    return int(float(str(previous_generation)))


def deployed_state_problems(
    config: StackConfig,
    *,
    previous_version: str | None,
    previous_token_source: str | None,
    previous_adopted: list[str] | None = None,
    previous_key_generation: int | None = None,
    leaving_nodes: frozenset[str] = frozenset(),
    previous_origin_pulls: object = None,
) -> list[str]:
    """Every problem of moving from the deployed state (the stack's own outputs) to `config`."""
    problems = _host_key_problems(config, previous_version, previous_adopted)
    if config.edge.origin_pulls_required and previous_origin_pulls not in ("optional", "required"):
        # Phase 2 must follow a finished phase 1: only then does the zone run full/strict with origin pulls on and
        # Cloudflare's certificate deployed, and only then could the operator see Cloudflare present it. In one
        # `up` from Flexible, Traefik would demand the certificate before Cloudflare was asked for HTTPS at all.
        problems.append(
            f"{NAMESPACE}:originPullsRequired: the stack's last `up` did not finish phase 1 of Authenticated Origin "
            f"Pulls ({ORIGIN_PULLS_OUTPUT} is {previous_origin_pulls or 'not set'}, not optional): `up` with sslMode "
            "full or strict and originPullsRequired unset first, check that Cloudflare presents our certificate "
            "(docs/runbook.md, Switch the SSL mode), then set it"
        )
    generation = config.nodes.deploy_key_generation
    if previous_key_generation is not None and generation not in (previous_key_generation, previous_key_generation + 1):
        problems.append(
            f"{NAMESPACE}:deployKeyGeneration: the nodes hold generation {previous_key_generation}, so it may only "
            f"stay or become {previous_key_generation + 1}: a new key is authorized with the previous one, one "
            f"generation per `up`; got {generation}"
        )
    elif previous_key_generation is not None and generation == previous_key_generation + 1:
        # A leaving node's steps delete over the connection in the state (the previous key, which this `up`
        # removes from the nodes), and a replacement only knows the new key: a rotation is an `up` of its own.
        busy = sorted(config.nodes.replaceable | leaving_nodes)
        if busy:
            problems.append(
                f"{NAMESPACE}:deployKeyGeneration: rotate the deploy key in an `up` of its own, not while nodes are "
                f"released or leave ({', '.join(busy)}): finish that first (docs/runbook.md, Rotate the deploy key)"
            )
    upgrade = checks.k3s_upgrade(previous_version, config.k3s.version)
    if upgrade:
        problems.append(f"{NAMESPACE}:k3sVersion: {upgrade}")
    token_source = "random" if config.k3s.token is None else "config"
    switch = checks.k3s_token_switch(previous_token_source, token_source)
    if switch:
        problems.append(f"{NAMESPACE}:k3sToken: {switch}")
    return problems


def _host_key_problems(
    config: StackConfig, previous_version: str | None, previous_adopted: list[str] | None
) -> list[str]:
    """A pinned host key (adoptedHostKeys) belongs to a node being adopted now (adoptIds) or adopted by an earlier
    update (the `adoptedNodes` output). On a node the stack creates, the pin would replace the host key the
    stack generated and handed over in user data: the first connection would trust whatever the config says,
    a typo fails the bootstrap, a planted key lets that key's holder answer for the node.

    A stack deployed by a program without the output (a version but no `adoptedNodes`) can't tell: its pins are
    taken as they are, and the update records them."""
    if previous_adopted is None and previous_version is not None:
        return []
    allowed = set(config.adopt) | set(previous_adopted or [])
    return [
        f"{NAMESPACE}:adoptedHostKeys: {name} is neither being adopted (adoptIds) nor adopted by an earlier update; "
        "the stack pins the host key it generated for the nodes it creates. Remove the entry"
        for name in sorted(set(config.nodes.adopted_host_keys) - allowed)
    ]
