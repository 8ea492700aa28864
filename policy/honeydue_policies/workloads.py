"""Workload invariants: resources and readiness on every container, and the worker as a singleton."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pulumi_policy import ResourceValidationArgs

from honeydue_policies.common import get, items

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA_TYPES = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
WORKER = "worker"

# (kind, metadata.name) -> why the workload's container may go without a readinessProbe. The exception
# holds only while the container declares no port: a port means something could route to it, and then
# readiness matters again.
READINESS_EXEMPT = {
    ("Deployment", WORKER): (
        "the Asynq worker exposes no endpoint and its image has no shell, so nothing could observe its "
        "health; no Service routes to it, so readiness would gate nothing (components/k8s/workloads.py)"
    ),
    ("Deployment", "hcloud-csi-controller"): (
        "the CSI sidecars (attacher, provisioner, resizer, livenessprobe) serve nothing: they relay between "
        "the API server and the driver's unix socket; the driver container itself has a readinessProbe "
        "(components/k8s/storage.py)"
    ),
}
RESOURCE_FIELDS = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))


def _kind(args: ResourceValidationArgs) -> str:
    return {DEPLOYMENT: "Deployment", STATEFULSET: "StatefulSet"}.get(args.resource_type, "")


def _container_problems(kind: str, name: str, container: Mapping[str, object]) -> Iterator[str]:
    label = f"{kind} {name}, container {get(container, 'name', default='?')}"
    missing = [f"{a}.{b}" for a, b in RESOURCE_FIELDS if get(container, "resources", a, b) in (None, "")]
    if missing:
        # Without requests the scheduler packs pods blind; without limits one leak starves the node,
        # and on three nodes that also run etcd and the API server that is an outage.
        yield f"{label} lacks resources {', '.join(missing)}"
    if get(container, "readinessProbe") is None:
        exempt = (kind, name) in READINESS_EXEMPT and not list(items(get(container, "ports")))
        if not exempt:
            yield f"{label} has no readinessProbe: a rollout would route traffic to pods that are not ready"


def check_resources_and_readiness(args: ResourceValidationArgs) -> Iterator[str]:
    """Every Deployment/StatefulSet container has requests and limits and a readinessProbe."""
    kind = _kind(args)
    if not kind:
        return
    name = str(get(args.props, "metadata", "name", default=args.name))
    containers = list(items(get(args.props, "spec", "template", "spec", "containers")))
    if not containers:
        yield f"{kind} {name} has no containers in spec.template.spec"
    for container in containers:
        yield from _container_problems(kind, name, container)


def check_worker_singleton(args: ResourceValidationArgs) -> Iterator[str]:
    """The worker runs one replica, rolls out with Recreate, may be evicted, and is never autoscaled.

    The Asynq scheduler inside the worker is a singleton: two pods enqueue every periodic task twice. A
    RollingUpdate starts the new pod before the old one stops, so it must be Recreate.
    """
    name = get(args.props, "metadata", "name")
    if args.resource_type == DEPLOYMENT and name == WORKER:
        replicas = get(args.props, "spec", "replicas")
        if replicas != 1:
            yield f"Deployment {WORKER} has replicas {replicas!r}; the Asynq scheduler must run exactly once (1)"
        strategy = get(args.props, "spec", "strategy", "type")
        if strategy != "Recreate":
            yield f"Deployment {WORKER} has strategy {strategy!r}; only Recreate never runs two pods at once"
    elif args.resource_type == PDB and name == WORKER:
        if get(args.props, "spec", "minAvailable") != 0 or get(args.props, "spec", "maxUnavailable") is not None:
            # With one replica any other budget blocks every node drain forever.
            yield f"PodDisruptionBudget {WORKER} must have minAvailable 0 (and no maxUnavailable)"
    elif args.resource_type in HPA_TYPES and get(args.props, "spec", "scaleTargetRef", "name") == WORKER:
        yield f"HorizontalPodAutoscaler {name} scales the {WORKER}, a singleton"
