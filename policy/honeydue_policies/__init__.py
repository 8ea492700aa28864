"""The Honeydue policy pack: mandatory rules that encode production incidents and invariants.

Each policy's logic is a generator `check(args) -> violation messages` in its own module, unit-tested
without the Pulumi CLI; `POLICIES` wraps them as CrossGuard ResourceValidationPolicies and
`policy/__main__.py` serves them with `PolicyPack` (which blocks, so tests never call it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from honeydue_policies import commands, firewall, secrets, servers, workloads

PACK_NAME = "honeydue"
Check = Callable[[ResourceValidationArgs], Iterator[str]]


def validator(check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """A CrossGuard validate callback that reports every message of `check`."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args):
            report_violation(message, None)

    validate.__doc__ = check.__doc__
    return validate


def _policy(
    name: str, description: str, check: Check, config: dict[str, dict[str, Any]] | None = None
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validator(check),
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties=config) if config else None,
    )


_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}

POLICIES: list[ResourceValidationPolicy] = [
    _policy(
        "cluster-ports-private-only",
        "No firewall rule (Hetzner Cloud Firewall or the nodes' UFW script) opens etcd 2379-2380/tcp, kubelet "
        "10250/tcp or flannel 8472/udp (51820-51821/udp) to sources outside the private ranges.",
        firewall.check,
        {"privateCidrs": {**_STRINGS, "default": list(firewall.DEFAULT_PRIVATE_CIDRS)}},
    ),
    _policy(
        "workload-resources-and-readiness",
        "Every Deployment/StatefulSet container sets requests and limits for cpu and memory and has a "
        "readinessProbe (the port-less Asynq worker is exempt from readiness, see workloads.READINESS_EXEMPT).",
        workloads.check_resources_and_readiness,
    ),
    _policy(
        "worker-singleton-recreate",
        "The worker Deployment (Asynq scheduler, a singleton) has replicas 1 and strategy Recreate, its "
        "PodDisruptionBudget minAvailable 0, and no autoscaler.",
        workloads.check_worker_singleton,
    ),
    _policy(
        "secrets-only-in-secrets",
        "Secret-looking keys and values live in Kubernetes Secrets only (not ConfigMaps or literal env), and "
        "a Secret holds only data/stringData with both outputs marked secret.",
        secrets.check,
    ),
    _policy(
        "secret-command-output",
        "A remote command that prints a secret (the kubeconfig, a K3s token) lists stdout and stderr in "
        "additionalSecretOutputs, logs nothing and does not export its previous output.",
        commands.check,
    ),
    _policy(
        "prod-servers-protected",
        "In production stacks every hcloud server has delete and rebuild protection, Pulumi protect and a "
        "placement group.",
        servers.check,
        {"productionStacks": {**_STRINGS, "default": list(servers.DEFAULT_PRODUCTION_STACKS)}},
    ),
]
