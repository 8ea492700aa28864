"""The pack against what the real program registers for prod (policy/export_plan.py), and mutated copies.

Every resource goes through pulumi_policy's own Analyze servicer as a protobuf request, as the CLI sends
it: prod must pass with no diagnostic at all, and each mutation that reintroduces an incident must be
stopped by a mandatory violation on the mutated resource.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import BY_NAME, MANDATORY, analyze, mandatory
from honeydue_policies import PACK_NAME, POLICIES, plan_checks
from pulumi_policy import EnforcementLevel

Resources = list[dict[str, Any]]


def find(resources: Resources, type_: str, name: str) -> dict[str, Any]:
    matches = [r for r in resources if r["type"] == type_ and r["name"] == name]
    assert len(matches) == 1, f"{len(matches)} resources {type_} {name} in the plan"
    return matches[0]


def test_plan_holds_what_every_policy_inspects(prod_plan: dict[str, Any]) -> None:
    # Guards against a vacuous pass: a renamed type or resource would otherwise leave a policy idle.
    types = [r["type"] for r in prod_plan["resources"]]
    assert prod_plan["stack"] == "prod"
    assert types.count("hcloud:index/server:Server") == 3
    assert types.count("hcloud:index/firewall:Firewall") == 1
    assert types.count("kubernetes:apps/v1:Deployment") >= 3 and "kubernetes:apps/v1:StatefulSet" in types
    assert {"kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret", "command:remote:Command"} <= set(types)
    find(prod_plan["resources"], "command:remote:Command", "honeydue-k3s-kubeconfig")
    find(prod_plan["resources"], "kubernetes:apps/v1:Deployment", "honeydue-deployment-worker")


def test_prod_has_no_violation(prod_plan: dict[str, Any]) -> None:
    diagnostics = analyze(prod_plan["resources"])
    assert diagnostics == [], "\n".join(f"[{d.policy}] {d.urn}: {d.message}" for d in diagnostics)


def test_every_policy_is_mandatory() -> None:
    assert {p.enforcement_level for p in POLICIES} == {EnforcementLevel.MANDATORY}
    assert PACK_NAME == "honeydue" and len(BY_NAME) == len(POLICIES) == 6


def _user_data(resource: dict[str, Any]) -> dict[str, Any]:
    user_data: dict[str, Any] = resource["inputs"]["userData"]
    assert plan_checks.is_secret(user_data), "userData is expected to be a secret input"
    return user_data


def etcd_public_in_hcloud(resources: Resources) -> str:
    firewall = find(resources, "hcloud:index/firewall:Firewall", "honeydue-firewall")
    etcd = next(r for r in firewall["inputs"]["rules"] if r["port"] == "2379-2380")
    etcd["sourceIps"].append("0.0.0.0/0")
    return firewall["urn"]


def etcd_public_in_ufw_userdata(resources: Resources) -> str:
    server = find(resources, "hcloud:index/server:Server", "honeydue-2")
    user_data = _user_data(server)
    wanted = "want 'allow in on @private from 10.0.0.0/16 to any port 2379:2380 proto tcp'"
    assert wanted in user_data["value"]
    user_data["value"] = user_data["value"].replace(wanted, "want 'allow 2379:2380/tcp'")
    return str(server["urn"])


def kubelet_public_in_firewall_sync(resources: Resources) -> str:
    sync = find(resources, "command:remote:Command", "honeydue-firewall-sync-3")
    sync["inputs"]["create"] += "\nwant 'allow from 198.51.100.0/24 to any port 10250 proto tcp' 'kubelet'\n"
    return str(sync["urn"])


def worker_two_replicas(resources: Resources) -> str:
    worker = find(resources, "kubernetes:apps/v1:Deployment", "honeydue-deployment-worker")
    worker["inputs"]["spec"]["replicas"] = 2
    return str(worker["urn"])


def worker_rolling_update(resources: Resources) -> str:
    worker = find(resources, "kubernetes:apps/v1:Deployment", "honeydue-deployment-worker")
    worker["inputs"]["spec"]["strategy"] = {"type": "RollingUpdate"}
    return str(worker["urn"])


def api_without_readiness(resources: Resources) -> str:
    api = find(resources, "kubernetes:apps/v1:Deployment", "honeydue-deployment-api")
    del api["inputs"]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    return str(api["urn"])


def redis_without_limits(resources: Resources) -> str:
    redis = find(resources, "kubernetes:apps/v1:StatefulSet", "honeydue-statefulset-redis")
    del redis["inputs"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    return str(redis["urn"])


def kubeconfig_stdout_plaintext(resources: Resources) -> str:
    fetch = find(resources, "command:remote:Command", "honeydue-k3s-kubeconfig")
    fetch["additionalSecretOutputs"] = [o for o in fetch["additionalSecretOutputs"] if o not in ("stdout", "stderr")]
    return str(fetch["urn"])


def database_url_in_configmap(resources: Resources) -> str:
    config = find(resources, "kubernetes:core/v1:ConfigMap", "honeydue-configmap-honeydue-config")
    config["inputs"]["data"]["DATABASE_URL"] = "postgresql://honeydue:pw@ep-x-pooler.neon.tech/honeydue"
    return str(config["urn"])


def server_unprotected(resources: Resources) -> str:
    server = find(resources, "hcloud:index/server:Server", "honeydue-1")
    server["protect"] = False
    return str(server["urn"])


def server_without_rebuild_protection(resources: Resources) -> str:
    server = find(resources, "hcloud:index/server:Server", "honeydue-3")
    server["inputs"]["rebuildProtection"] = False
    return str(server["urn"])


def server_outside_placement_group(resources: Resources) -> str:
    server = find(resources, "hcloud:index/server:Server", "honeydue-2")
    del server["inputs"]["placementGroupId"]
    return str(server["urn"])


MUTATIONS: list[tuple[Callable[[Resources], str], str, str]] = [
    (etcd_public_in_hcloud, "cluster-ports-private-only", "etcd 2379-2380/tcp to 0.0.0.0/0"),
    (etcd_public_in_ufw_userdata, "cluster-ports-private-only", "userData: UFW rule `allow 2379:2380/tcp`"),
    (kubelet_public_in_firewall_sync, "cluster-ports-private-only", "kubelet 10250/tcp to 198.51.100.0/24"),
    (worker_two_replicas, "worker-singleton-recreate", "replicas 2"),
    (worker_rolling_update, "worker-singleton-recreate", "strategy 'RollingUpdate'"),
    (api_without_readiness, "workload-resources-and-readiness", "container api has no readinessProbe"),
    (redis_without_limits, "workload-resources-and-readiness", "lacks resources limits.cpu, limits.memory"),
    (kubeconfig_stdout_plaintext, "secret-command-output", "stdout and stderr are not in additionalSecretOutputs"),
    (database_url_in_configmap, "secrets-only-in-secrets", "key 'DATABASE_URL' looks like a secret"),
    (server_unprotected, "prod-servers-protected", "must be protected"),
    (server_without_rebuild_protection, "prod-servers-protected", "rebuildProtection must be true"),
    (server_outside_placement_group, "prod-servers-protected", "has no placementGroupId"),
]


@pytest.mark.parametrize(("mutate", "policy", "expected"), MUTATIONS, ids=[m[0].__name__ for m in MUTATIONS])
def test_mutated_prod_is_stopped(
    prod_resources: Resources, mutate: Callable[[Resources], str], policy: str, expected: str
) -> None:
    urn = mutate(prod_resources)
    found = mandatory(analyze(prod_resources))
    assert [(d.policy, d.urn) for d in found] == [(policy, urn)], found
    assert expected in found[0].message and found[0].level == MANDATORY


# ------------------------------------------------------------------ what CrossGuard can't see: secrecy


def test_prod_secrets_are_secret_inputs_and_no_secret_leaks(prod_plan: dict[str, Any]) -> None:
    labels = prod_plan["secretLabels"]
    assert "<secret:databaseUrl>" in labels
    problems = [
        problem
        for resource in prod_plan["resources"]
        for problem in [
            *plan_checks.secret_input_problems(resource),
            *plan_checks.leaked_secret_problems(resource, labels),
        ]
    ]
    assert problems == []


def test_secret_with_plaintext_data_is_caught(prod_resources: Resources) -> None:
    app = find(prod_resources, "kubernetes:core/v1:Secret", "honeydue-secret-honeydue-app")
    string_data = app["inputs"]["stringData"]
    assert plan_checks.is_secret(string_data)
    app["inputs"]["stringData"] = {**string_data["value"], "PLAIN": "visible"}
    problems = list(plan_checks.secret_input_problems(app))
    assert len(problems) == 1 and "stringData keys" in problems[0] and "PLAIN" in problems[0]
    # CrossGuard alone passes it: props arrive without the secret wrapper either way.
    assert mandatory(analyze([app])) == []


def test_secret_leaked_into_a_plaintext_input_is_caught(prod_plan: dict[str, Any], prod_resources: Resources) -> None:
    config = find(prod_resources, "kubernetes:core/v1:ConfigMap", "honeydue-configmap-honeydue-config")
    config["inputs"]["data"]["UPSTREAM"] = "<secret:databaseUrl>"
    problems = list(plan_checks.leaked_secret_problems(config, prod_plan["secretLabels"]))
    assert problems == [
        "kubernetes:core/v1:ConfigMap honeydue-configmap-honeydue-config: inputs.data.UPSTREAM holds "
        "<secret:databaseUrl> in plaintext"
    ]
