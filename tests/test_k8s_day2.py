"""Day 2 of the Kubernetes layer under the real engine (issue 11 items 1, 3, 4, 5, 13).

The mock engine accepts anything, so these tests assert on what the program registers (the provider's
clusterIdentifier and enableSecretMutable, its dependencies, the pod templates' checksums) and on the
pure builders, each against the upstream behaviour it answers (cited in the component's comments).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k3s.deployer import (
    DEPLOYER,
    HELM_CRDS,
    TOKEN_SECRET,
    cluster_identifier,
    deployer_files,
    deployer_rbac,
    deployer_token_secret,
)
from components.k8s import checksums
from components.k8s.access import consumer_access_objects, namespace_kubeconfig
from components.k8s.manifests import all_objects
from components.k8s.traefik_values import ingress_endpoint_values, traefik_values
from offline.harness import run_program
from offline.records import Plan, Registration, SecretValue
from offline.stack_config import secret_placeholder
from tests.test_k8s_manifests import CLOUDFLARE, FLEXIBLE, HOST
from tests.test_k8s_schema import dump, validate

PROVIDER = ("pulumi:providers:kubernetes", "honeydue-k3s-k8s")
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def _template_annotations(reg: Registration) -> dict[str, Any]:
    return dict(reg.inputs["spec"]["template"]["metadata"].get("annotations", {}))


# --- item 3: the provider keeps its identity; item 5: Secrets are patched, not replaced --------------


def test_the_provider_has_a_fixed_identity_and_mutable_secrets(prod_plan: Plan) -> None:
    provider = prod_plan.get(*PROVIDER)
    assert provider.inputs["clusterIdentifier"] == "honeydue-prod"
    # Provider config travels as strings on the wire.
    assert provider.inputs["enableSecretMutable"] == "true"


@pytest.mark.parametrize(
    ("project", "stack", "expected"), [("honeydue", "prod", "honeydue-prod"), ("Hd", "Stg", "hd-stg")]
)
def test_cluster_identifier_is_project_and_stack(project: str, stack: str, expected: str) -> None:
    assert cluster_identifier(project, stack) == expected


def test_cluster_identifier_refuses_what_is_not_a_plain_name() -> None:
    with pytest.raises(ValueError, match="cluster identifier"):
        cluster_identifier("honeydue", "prod/../x")


def test_a_new_kubeconfig_changes_the_provider_inputs_but_never_its_identity() -> None:
    """A new API address (here: no API name, server 1's IP) changes the kubeconfig; the identifier,
    the only input whose change replaces a provider that has one, stays."""
    with_name, with_ip = run_program("prod"), run_program("prod", {"apiDnsName": ""})
    old, new = with_name.get(*PROVIDER), with_ip.get(*PROVIDER)
    assert old.inputs["kubeconfig"].value != new.inputs["kubeconfig"].value
    assert old.inputs["clusterIdentifier"] == new.inputs["clusterIdentifier"] == "honeydue-prod"


# --- item 13: the API name resolves before the provider dials it -------------------------------------


def test_the_provider_waits_for_the_api_dns_records(prod_plan: Plan) -> None:
    provider = prod_plan.get(*PROVIDER)
    api_records = [r for r in prod_plan.by_type(DNS_RECORD) if r.inputs["name"] == "k8s.honeydue.app"]
    assert len(api_records) == 3 and all(r.inputs["proxied"] is False for r in api_records)
    assert {r.urn for r in api_records} <= set(provider.dependencies)
    # Only those: the proxied records have nothing to do with the API.
    proxied = {r.urn for r in prod_plan.by_type(DNS_RECORD) if r.inputs["proxied"]}
    assert not proxied & set(provider.dependencies)
    # No cycle: the records wait for nothing Kubernetes (only for their server's leave step, so that on a
    # scale-in a server's records go before its drain).
    for record in api_records:
        assert not [d for d in record.dependencies if "kubernetes" in d or d.endswith("-kubeconfig")]


def test_without_an_api_name_the_provider_waits_for_no_record() -> None:
    plan = run_program("prod", {"apiDnsName": ""})
    assert not [d for d in plan.get(*PROVIDER).dependencies if DNS_RECORD in d]


def test_every_kubernetes_object_waits_for_the_crds_step(prod_plan: Plan) -> None:
    """The kubeconfig step waits until the helm.cattle.io CRDs are established; the provider needs its
    output, so the HelmChartConfig (and everything else) comes after it."""
    fetch = prod_plan.get("command:remote:Command", "honeydue-k3s-kubeconfig")
    provider = prod_plan.get(*PROVIDER)
    assert fetch.urn in provider.dependencies
    chart_config = prod_plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    assert chart_config.provider.rsplit("::", 1)[0] == provider.urn
    text = fetch.inputs["create"]
    assert isinstance(text, str)  # no secret in the command text: it can be reviewed in a preview
    assert "deployer-kubeconfig.sh" in text and "condition=established" in text
    assert all(crd in text for crd in HELM_CRDS)


# --- item 4: a credential that does not expire -------------------------------------------------------


def test_pulumi_uses_the_deployer_token_not_the_admin_certificate(prod_plan: Plan) -> None:
    kubeconfig = yaml.safe_load(prod_plan.get(*PROVIDER).inputs["kubeconfig"].value)
    (user,) = kubeconfig["users"]
    assert user["name"] == DEPLOYER and set(user["user"]) == {"token"}
    assert "client-certificate-data" not in json.dumps(kubeconfig)
    fetch = prod_plan.get("command:remote:Command", "honeydue-k3s-kubeconfig")
    assert set(fetch.additional_secret_outputs) >= {"stdout", "stderr"} and fetch.inputs["logging"] == "none"


def test_the_deployer_is_a_cluster_admin_service_account_with_a_long_lived_token() -> None:
    account, binding = deployer_rbac()
    assert (account["kind"], account["metadata"]["name"], account["automountServiceAccountToken"]) == (
        "ServiceAccount",
        DEPLOYER,
        False,
    )
    assert binding["roleRef"]["name"] == "cluster-admin"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": "kube-system"}]
    secret = deployer_token_secret()
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": DEPLOYER}
    assert secret["metadata"]["name"] == TOKEN_SECRET and "data" not in secret


def test_the_deployer_files_are_the_manifests_and_hold_no_secret() -> None:
    rbac, token = deployer_files()
    assert list(yaml.safe_load_all(rbac.content)) == deployer_rbac()
    assert yaml.safe_load(token.content) == deployer_token_secret()
    assert {rbac.mode, token.mode} == {"0644"}


# --- item 1: Ingresses become ready -----------------------------------------------------------------


def _traefik_status(values: dict[str, Any], published_service_status: list[str]) -> list[str]:
    """What Traefik writes into an Ingress's status.loadBalancer, as `updateIngressStatus` decides it
    (traefik pkg/provider/kubernetes/ingress/kubernetes.go, v3.4+): with a published service, that
    Service's load-balancer status (a ClusterIP Service without externalIPs: none); otherwise the
    configured ingressEndpoint hostname/ip; without either, nothing. Values merge over K3s's own
    (`publishedService.enabled: true`, k3s manifests/traefik.yaml)."""
    published = values.get("providers", {}).get("kubernetesIngress", {}).get("publishedService", {})
    if published.get("enabled", True):
        return published_service_status
    prefix = "--providers.kubernetesingress.ingressendpoint."
    flags = [a for a in values.get("additionalArguments", []) if a.startswith(prefix)]
    return [f.split("=", 1)[1] for f in flags]


def test_traefik_publishes_the_apex_as_every_ingress_status() -> None:
    values = traefik_values(CLOUDFLARE, None, ingress_hostname=HOST)
    assert _traefik_status(values, published_service_status=[]) == [HOST]
    # The control: K3s's defaults with our ClusterIP Service leave the status empty, so Pulumi would wait.
    del values["providers"], values["additionalArguments"]
    assert _traefik_status(values, published_service_status=[]) == []


def test_the_ingress_endpoint_uses_only_keys_every_bundled_chart_accepts() -> None:
    """traefik-helm-chart's values schema has additionalProperties: false under
    providers.kubernetesIngress from v39; `ingressEndpoint` only exists from v40. These are the keys of
    v37.1.0's schema (the oldest chart a K3s 1.34 release bundles), all still present in v41."""
    keys_v37 = {"allowEmptyServices", "allowExternalNameServices", "enabled", "ingressClass", "namespaces",
                "nativeLBByDefault", "publishedService", "strictPrefixMatching"}  # fmt: skip
    values = ingress_endpoint_values(HOST)
    assert set(values["providers"]["kubernetesIngress"]) <= keys_v37
    assert values["providers"]["kubernetesIngress"]["publishedService"] == {"enabled": False}
    assert values["additionalArguments"] == [f"--providers.kubernetesingress.ingressendpoint.hostname={HOST}"]


@pytest.mark.parametrize("bad", ["", "honeydue", "a b.app", "-x.app", "x.app --log.level=DEBUG"])
def test_the_ingress_endpoint_must_be_a_dns_name(bad: str) -> None:
    with pytest.raises(ValueError, match="DNS name"):
        traefik_values(CLOUDFLARE, None, ingress_hostname=bad)


def test_the_program_publishes_the_domain(prod_plan: Plan) -> None:
    chart_config = prod_plan.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    values = yaml.safe_load(chart_config.inputs["spec"]["valuesContent"])
    assert _traefik_status(values, published_service_status=[]) == ["honeydue.app"]
    for ingress in prod_plan.by_type("kubernetes:networking.k8s.io/v1:Ingress"):
        assert "pulumi.com/skipAwait" not in ingress.inputs["metadata"].get("annotations", {})


# --- item 5: a rotated Secret or an edited ConfigMap rolls the pods that read it --------------------


def test_the_consumer_access_objects_validate_against_kubernetes_1_34_strict(tmp_path: Path) -> None:
    objects = consumer_access_objects("honeydue")
    assert [o["kind"] for o in objects] == ["ServiceAccount", "RoleBinding", "Secret"]
    run = validate(dump(objects, tmp_path))
    problems = [line for line in run.stdout.splitlines() if not line.startswith("INFO ")]
    assert run.returncode == 0 and not problems, "\n".join(problems) or run.stderr
    assert len([line for line in run.stdout.splitlines() if "against version 1.34" in line]) == 3


def test_the_consumer_kubeconfig_carries_the_cluster_entry_and_only_the_token() -> None:
    cluster = (
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://k8s.x.app:6443\n"
        "  name: default\nusers:\n- name: admin\n  user:\n    token: ADMIN-TOKEN\n"
    )
    text = namespace_kubeconfig(cluster, "NS-TOKEN", "honeydue")
    config = yaml.safe_load(text)
    assert config["clusters"][0]["cluster"] == {
        "certificate-authority-data": "Q0E=",
        "server": "https://k8s.x.app:6443",
    }
    assert config["users"] == [{"name": "honeydue-consumer", "user": {"token": "NS-TOKEN"}}]
    assert config["contexts"][0]["context"]["namespace"] == "honeydue" and "ADMIN-TOKEN" not in text
    with pytest.raises(ValueError, match="empty"):
        namespace_kubeconfig(cluster, "", "honeydue")


def test_pod_reads_finds_env_from_value_from_and_volumes_but_not_pull_secrets() -> None:
    workloads = [o for o in all_objects(FLEXIBLE) if o["kind"] in ("Deployment", "StatefulSet")]
    reads = {o["metadata"]["name"]: checksums.pod_reads(o) for o in workloads}
    assert reads == {
        "api": (["honeydue-config"], ["honeydue-app", "honeydue-redis"]),
        "admin": (["honeydue-config"], ["honeydue-app"]),
        "worker": (["honeydue-config"], ["honeydue-app", "honeydue-redis"]),
        "redis": ([], ["honeydue-redis"]),
    }
    pod = {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [
                        {"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "k"}}}]}
                    ],
                    "containers": [{"envFrom": [{"secretRef": {"name": "s1"}}]}],
                    "volumes": [
                        {"name": "v", "secret": {"secretName": "s2"}},
                        {"name": "w", "configMap": {"name": "c2"}},
                        {
                            "name": "p",
                            "projected": {"sources": [{"secret": {"name": "s3"}}, {"configMap": {"name": "c3"}}]},
                        },
                    ],
                    "imagePullSecrets": [{"name": "pull"}],
                }
            }
        }
    }
    assert checksums.pod_reads(pod) == (["c1", "c2", "c3"], ["s1", "s2", "s3"])


def test_digest_is_canonical_and_sensitive() -> None:
    assert checksums.digest({"a": {"x": "1", "y": "2"}}) == checksums.digest({"a": {"y": "2", "x": "1"}})
    assert checksums.digest({"a": {"x": "1"}}) != checksums.digest({"a": {"x": "2"}})
    assert checksums.digest({"a": {"x": "1"}}) != checksums.digest({"b": {"x": "1"}})


def _app_secret_digest(plan: Plan, database_url: str) -> str:
    values = {
        "DATABASE_URL": database_url,
        **{k: secret_placeholder(c) for k, c in [("APP_SECRET_KEY", "appSecretKey"), ("SMTP_USERNAME", "smtpUsername"),
           ("SMTP_PASSWORD", "smtpPassword"), ("B2_KEY_ID", "b2KeyId"), ("B2_APPLICATION_KEY", "b2ApplicationKey")]},
    }  # fmt: skip
    return checksums.digest({"honeydue-app": values})


def test_workloads_carry_checksums_that_are_digests_never_values(prod_plan: Plan) -> None:
    admin = prod_plan.get(DEPLOYMENT, "honeydue-deployment-admin")
    annotations = _template_annotations(admin)
    assert set(annotations) == {checksums.CONFIG_ANNOTATION, checksums.SECRET_ANNOTATION}
    # Deliberately plain (a SHA-256 reveals nothing): the preview shows why a Deployment rolls.
    assert not isinstance(annotations[checksums.SECRET_ANNOTATION], SecretValue)
    assert annotations[checksums.SECRET_ANNOTATION] == _app_secret_digest(prod_plan, secret_placeholder("databaseUrl"))
    configmap = prod_plan.get("kubernetes:core/v1:ConfigMap", "honeydue-configmap-honeydue-config")
    assert annotations[checksums.CONFIG_ANNOTATION] == checksums.digest({"honeydue-config": configmap.inputs["data"]})
    for reg in [*prod_plan.by_type(DEPLOYMENT), *prod_plan.by_type(STATEFULSET)]:
        for value in _template_annotations(reg).values():
            assert len(value) == 64 and not [s for s in prod_plan.known_secrets if s in value], reg.name
    redis = _template_annotations(prod_plan.get(STATEFULSET, "honeydue-statefulset-redis"))
    assert set(redis) == {checksums.SECRET_ANNOTATION}


def test_a_rotated_secret_rolls_exactly_the_pods_that_read_it(prod_plan: Plan) -> None:
    rotated_url = secret_placeholder("databaseUrl").replace("PLACEHOLDER", "ROTATED")
    rotated = run_program("prod", {"databaseUrl": rotated_url})

    def secret_checksums(plan: Plan) -> dict[str, str]:
        # The app workloads (the CSI driver and kured in kube-system read no Secret of the app layer).
        regs = [r for r in (*plan.by_type(DEPLOYMENT), *plan.by_type(STATEFULSET)) if r.name.startswith("honeydue-")]
        return {r.name: _template_annotations(r)[checksums.SECRET_ANNOTATION] for r in regs}

    before, after = secret_checksums(prod_plan), secret_checksums(rotated)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"honeydue-deployment-api", "honeydue-deployment-admin", "honeydue-deployment-worker"}
    assert after["honeydue-deployment-admin"] == _app_secret_digest(rotated, rotated_url)
    # The workloads are updated after the Secret they read (the engine orders by these dependencies).
    secret = rotated.get("kubernetes:core/v1:Secret", "honeydue-secret-honeydue-app")
    assert rotated.waits_for(rotated.get(DEPLOYMENT, "honeydue-deployment-api"), secret)


def test_a_config_edit_rolls_the_pods_that_read_the_configmap(prod_plan: Plan) -> None:
    edited = run_program("prod", {"smtpPort": 465})
    for name in ("api", "admin", "worker"):
        old = _template_annotations(prod_plan.get(DEPLOYMENT, f"honeydue-deployment-{name}"))
        new = _template_annotations(edited.get(DEPLOYMENT, f"honeydue-deployment-{name}"))
        assert old[checksums.CONFIG_ANNOTATION] != new[checksums.CONFIG_ANNOTATION]
        assert old[checksums.SECRET_ANNOTATION] == new[checksums.SECRET_ANNOTATION]
    assert hashlib.sha256(b"").hexdigest() not in json.dumps(
        [_template_annotations(r) for r in edited.by_type(DEPLOYMENT)]
    )
