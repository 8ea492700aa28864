"""workload-resources-and-readiness and worker-singleton-recreate."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import resource_args, violations

RESOURCES_POLICY = "workload-resources-and-readiness"
WORKER_POLICY = "worker-singleton-recreate"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
PROBE = {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5}


def workload(
    name: str, container: dict[str, Any], *, replicas: int = 3, strategy: str = "RollingUpdate"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "honeydue"},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": strategy},
            "template": {"spec": {"containers": [{"name": name, **container}]}},
        },
    }


HTTP = [{"name": "http", "containerPort": 8080}]
API = workload("api", {"ports": HTTP, "resources": RESOURCES, "readinessProbe": PROBE})
# As components/k8s/workloads.py renders it: no ports, no probes.
WORKER = workload("worker", {"resources": RESOURCES}, replicas=1, strategy="Recreate")


def resources_violations(props: dict[str, Any], kind: str = DEPLOYMENT) -> list[str]:
    return violations(RESOURCES_POLICY, resource_args(kind, props, name=f"honeydue-{props['metadata']['name']}"))


def without(props: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(props)
    container = changed["spec"]["template"]["spec"]["containers"][0]
    *parents, last = path
    for key in parents:
        container = container[key]
    del container[last]
    return changed


def test_api_with_resources_and_readiness_passes() -> None:
    assert resources_violations(API) == []


def test_worker_without_probes_passes_the_exemption() -> None:
    assert resources_violations(WORKER) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("readinessProbe",), "container api has no readinessProbe"),
        (("resources",), "lacks resources requests.cpu, requests.memory, limits.cpu, limits.memory"),
        (("resources", "limits"), "lacks resources limits.cpu, limits.memory"),
        (("resources", "requests", "memory"), "lacks resources requests.memory"),
    ],
)
def test_missing_resources_or_readiness_is_a_violation(path: tuple[str, ...], expected: str) -> None:
    found = resources_violations(without(API, *path))
    assert len(found) == 1 and expected in found[0], found


def test_statefulset_is_checked_too() -> None:
    redis = {**without(API, "readinessProbe"), "kind": "StatefulSet"}
    assert "no readinessProbe" in resources_violations(redis, STATEFULSET)[0]


def test_worker_exemption_ends_when_it_gets_a_port() -> None:
    served = copy.deepcopy(WORKER)
    served["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    assert "container worker has no readinessProbe" in resources_violations(served)[0]


def test_another_workload_without_readiness_gets_no_exemption() -> None:
    assert "no readinessProbe" in resources_violations(workload("scheduler", {"resources": RESOURCES}))[0]


def worker_violations(resource_type: str, props: dict[str, Any]) -> list[str]:
    return violations(WORKER_POLICY, resource_args(resource_type, props, name="honeydue-worker"))


def test_worker_singleton_with_recreate_passes() -> None:
    assert worker_violations(DEPLOYMENT, WORKER) == []
    assert worker_violations(PDB, {"metadata": {"name": "worker"}, "spec": {"minAvailable": 0}}) == []


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (workload("worker", {"resources": RESOURCES}, replicas=2, strategy="Recreate"), "replicas 2"),
        (workload("worker", {"resources": RESOURCES}, replicas=1), "strategy 'RollingUpdate'"),
    ],
)
def test_worker_not_a_singleton_is_a_violation(props: dict[str, Any], expected: str) -> None:
    found = worker_violations(DEPLOYMENT, props)
    assert len(found) == 1 and expected in found[0], found


def test_worker_without_replicas_is_a_violation() -> None:
    props = copy.deepcopy(WORKER)
    del props["spec"]["replicas"]
    assert "replicas None" in worker_violations(DEPLOYMENT, props)[0]


def test_worker_budget_and_autoscaler() -> None:
    assert worker_violations(PDB, {"metadata": {"name": "worker"}, "spec": {"minAvailable": 1}}) != []
    assert worker_violations(PDB, {"metadata": {"name": "worker"}, "spec": {"maxUnavailable": 1}}) != []
    hpa = {"metadata": {"name": "worker"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "worker"}}}
    assert "scales the worker" in worker_violations(HPA, hpa)[0]


def test_other_deployments_may_scale() -> None:
    assert worker_violations(DEPLOYMENT, API) == []
