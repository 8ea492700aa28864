"""secrets-only-in-secrets."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import resource_args, violations
from honeydue_policies.secrets import secret_looking_key

POLICY = "secrets-only-in-secrets"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET_OUTPUTS = ("data", "stringData")
# As components/k8s/manifests.py renders honeydue-config.
PROD_CONFIG = {
    "ADMIN_URL": "https://admin.honeydue.app",
    "B2_BUCKET": "honeydue-uploads",
    "B2_ENDPOINT": "s3.eu-central-003.backblazeb2.com",
    "REDIS_ADDR": "redis.honeydue.svc.cluster.local:6379",
    "SMTP_HOST": "smtp.fastmail.com",
    "SMTP_PORT": "587",
    "SMTP_STARTTLS": "true",
}


def configmap(data: dict[str, str]) -> list[str]:
    props = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "honeydue-config"}, "data": data}
    return violations(POLICY, resource_args(CONFIGMAP, props, name="honeydue-configmap-honeydue-config"))


def test_prod_configmap_passes() -> None:
    assert configmap(PROD_CONFIG) == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("DATABASE_URL", "postgresql://h@ep-x-pooler.neon.tech/h", "key 'DATABASE_URL' looks like a secret"),
        ("SMTP_PASSWORD", "hunter2", "key 'SMTP_PASSWORD' looks like a secret"),
        ("B2_APPLICATION_KEY", "K0001", "looks like a secret"),
        ("UPSTREAM", "redis://default:s3cr3t@redis:6379/0", "holds a credential"),
        ("CA", "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n", "holds a credential"),
    ],
)
def test_secret_in_a_configmap_is_a_violation(key: str, value: str, expected: str) -> None:
    found = configmap({**PROD_CONFIG, key: value})
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("REDIS_PASSWORD", True),
        ("APP_SECRET_KEY", True),
        ("registryToken", True),
        ("apiKey", True),
        ("B2_KEY_ID", True),
        ("DATABASE_URL", True),
        ("API_URL", False),
        ("SMTP_STARTTLS", False),
        ("HOSTNAME", False),
        ("PASSTHROUGH_MODE", False),
        ("KEYCLOAK_REALM", False),
    ],
)
def test_secret_looking_key(key: str, secret: bool) -> None:
    assert secret_looking_key(key) is secret


def deployment(env: list[dict[str, Any]]) -> list[str]:
    pod = {"containers": [{"name": "redis", "env": env}]}
    props = {"metadata": {"name": "redis"}, "spec": {"template": {"spec": pod}}}
    return violations(POLICY, resource_args(DEPLOYMENT, props, name="honeydue-deployment-redis"))


def test_env_from_a_secret_passes() -> None:
    ref = {"secretKeyRef": {"name": "honeydue-redis", "key": "REDIS_PASSWORD"}}
    assert deployment([{"name": "REDIS_PASSWORD", "valueFrom": ref}, {"name": "PORT", "value": "3000"}]) == []


def test_literal_secret_env_is_a_violation() -> None:
    found = deployment([{"name": "REDIS_PASSWORD", "value": "hunter2"}])
    assert len(found) == 1 and "env REDIS_PASSWORD is a literal value" in found[0]


def secret(props: dict[str, Any], secret_outputs: tuple[str, ...] = SECRET_OUTPUTS) -> list[str]:
    base = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "honeydue-app"}, "type": "Opaque"}
    args = resource_args(SECRET, {**base, **props}, name="honeydue-secret-honeydue-app", secret_outputs=secret_outputs)
    return violations(POLICY, args)


def test_secret_with_only_data_and_secret_outputs_passes() -> None:
    assert secret({"stringData": {"DATABASE_URL": "postgresql://…"}}) == []


def test_secret_without_secret_outputs_is_a_violation() -> None:
    found = secret({"stringData": {"DATABASE_URL": "postgresql://…"}}, secret_outputs=())
    assert len(found) == 1 and "must be additionalSecretOutputs" in found[0]


def test_secret_with_extra_fields_is_a_violation() -> None:
    found = secret({"stringData": {"A": "b"}, "spec": {"leak": "value"}})
    assert len(found) == 1 and "fields other than data/stringData: spec" in found[0]
