"""The Kubernetes layer of Honeydue as plain manifests: the public entry point.

Pure builders, no Pulumi: plain values in (`AppsSpec`), dicts out with camelCase keys exactly as
`kubectl apply` takes them, each with an explicit name (and namespace where namespaced) and the
recommended app.kubernetes.io labels. Output is deterministic. Secrets are shells: they name their keys
with empty values and the component fills `stringData` with secret Outputs, so no secret value ever
passes through here. Workloads live in `k8s_apps`, NetworkPolicies in `k8s_policies`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from components.k8s.policies import network_policies
from components.k8s.redis import redis_objects
from components.k8s.spec import (
    ADMIN,
    API,
    APP_SECRET,
    CONFIGMAP,
    PART_OF,
    REDIS,
    REDIS_PORT,
    REDIS_SECRET,
    REGISTRY_SECRET,
    AppsSpec,
    Manifest,
    labels,
    metadata,
)
from components.k8s.workloads import admin_objects, api_objects, worker_objects

__all__ = [
    "APP_SECRET",
    "CONFIGMAP",
    "REDIS_SECRET",
    "REGISTRY_SECRET",
    "SECRET_KEYS",
    "TLS_SECRET_KEYS",
    "TRAEFIK_NAMESPACE",
    "AppsSpec",
    "Manifest",
    "admin_objects",
    "all_objects",
    "api_objects",
    "configmap",
    "dockerconfigjson",
    "ingress",
    "ingress_tls",
    "namespace",
    "network_policies",
    "origin_pull_probe_ingress",
    "redis_objects",
    "redis_url",
    "registry_secret_shell",
    "secret_shell",
    "tls_secret_shells",
    "worker_objects",
]

SECRET_KEYS: dict[str, tuple[str, ...]] = {
    # Read by api, worker and admin through envFrom:
    #   DATABASE_URL        Neon Postgres URL on the -pooler host (sslmode=verify-full)
    #   APP_SECRET_KEY      the app's signing key
    #   SMTP_USERNAME/PASSWORD   Fastmail SMTP credentials (host and port are in the ConfigMap)
    #   B2_KEY_ID/B2_APPLICATION_KEY   Backblaze B2 S3 credentials (bucket, endpoint, region: ConfigMap)
    APP_SECRET: (
        "DATABASE_URL",
        "APP_SECRET_KEY",
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
        "B2_KEY_ID",
        "B2_APPLICATION_KEY",
    ),
    # Read by redis (REDIS_PASSWORD only, by secretKeyRef) and by api and worker through envFrom;
    # admin never gets it. REDIS_URL is `redis_url(password, namespace)`. The password must be
    # alphanumeric: it is written into a redis config line.
    REDIS_SECRET: ("REDIS_PASSWORD", "REDIS_URL"),
}
TLS_SECRET_KEYS: tuple[str, ...] = ("tls.crt", "tls.key")
ORIGIN_PULL_PROBE_PATH = "/_honeydue/origin-pull-probe"
"""The one route whose requests Traefik logs, with the subject of the client certificate they came with."""
ORIGIN_PULL_CLIENT_CN = "Cloudflare origin pulls for {domain}"
"""The CN of the client certificate Cloudflare presents (components/edge/origin_pulls.py): what those log lines show
when Cloudflare presents ours (tools/smoke_pulls.py checks it)."""
# Traefik, and so the Secret of its default TLS store, lives in K3s's kube-system.
TRAEFIK_NAMESPACE = "kube-system"
_PSA_VERSION = "v1.34"


def _shared_labels(spec_namespace: str, component: str) -> dict[str, str]:
    return labels(PART_OF, component, spec_namespace)


def namespace(spec: AppsSpec) -> Manifest:
    """The namespace, with Pod Security Admission `restricted` enforced, audited and warned.

    Every workload here meets `restricted` (redis included: the official image runs as uid 999), so
    there is no exception. Enforcement is pinned to the cluster's minor so an upgrade cannot start
    rejecting pods; audit and warn follow `latest` to show what the next policy version would refuse.
    """
    object_labels = _shared_labels(spec.apps.namespace, "namespace") | {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": _PSA_VERSION,
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(spec.apps.namespace, None, object_labels)}


def configmap(spec: AppsSpec) -> Manifest:
    """Non-secret environment of the apps."""
    data = {
        "APP_ENV": "production",
        "APP_DOMAIN": spec.apps.domain,
        "API_URL": f"https://{spec.apps.api_hostname}",
        "ADMIN_URL": f"https://{spec.apps.admin_hostname}",
        "REDIS_ADDR": f"{REDIS}.{spec.apps.namespace}.svc.cluster.local:{REDIS_PORT}",
        "SMTP_HOST": spec.services.smtp_host,
        "SMTP_PORT": str(spec.services.smtp_port),
        "SMTP_STARTTLS": "true",
        "B2_BUCKET": spec.services.b2_bucket,
        "B2_ENDPOINT": spec.services.b2_endpoint,
        "B2_REGION": spec.services.b2_region,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(CONFIGMAP, spec.apps.namespace, _shared_labels(spec.apps.namespace, "config")),
        "data": data,
    }


def secret_shell(
    name: str, keys: Sequence[str], namespace: str, secret_type: str = "Opaque", instance: str | None = None
) -> Manifest:
    """A Secret naming its keys with empty values; the component fills `stringData` with secret Outputs.

    `instance` (the app.kubernetes.io/instance label) defaults to the namespace.
    """
    if not keys:
        raise ValueError(f"secret {name} names no keys")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(name, namespace, labels(PART_OF, "secrets", instance or namespace)),
        "type": secret_type,
        "stringData": dict.fromkeys(keys, ""),
    }


def registry_secret_shell(namespace: str) -> Manifest:
    """The image-pull Secret; its `.dockerconfigjson` is `dockerconfigjson(registry, user, token)`."""
    return secret_shell(REGISTRY_SECRET, (".dockerconfigjson",), namespace, "kubernetes.io/dockerconfigjson")


def tls_secret_shells(spec: AppsSpec) -> list[Manifest]:
    """The Origin CA certificate Secret, twice: none in flexible mode.

    The Ingress's `tls` block reads it from the apps' namespace; Traefik's default TLS store (see
    `traefik_values`) can only read a Secret in Traefik's own namespace, kube-system. Same name, same
    content, both filled by the component.
    """
    if spec.tls_secret_name is None:
        return []
    return [
        secret_shell(spec.tls_secret_name, TLS_SECRET_KEYS, ns, "kubernetes.io/tls", instance=spec.apps.namespace)
        for ns in (spec.apps.namespace, TRAEFIK_NAMESPACE)
    ]


def redis_url(password: str, namespace: str) -> str:
    """REDIS_URL of the apps (the component applies this over the password Output)."""
    return f"redis://:{quote(password, safe='')}@{REDIS}.{namespace}.svc.cluster.local:{REDIS_PORT}/0"


def dockerconfigjson(registry: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` value of the image-pull Secret (the component applies this over Outputs)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}}, sort_keys=True)


def _ingress_rules(spec: AppsSpec) -> tuple[list[str], list[dict[str, Any]]]:
    hosts = [
        (spec.apps.domain, API),
        (f"www.{spec.apps.domain}", API),
        (spec.apps.api_hostname, API),
        (spec.apps.admin_hostname, ADMIN),
    ]
    rules = [
        {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": service, "port": {"name": "http"}}},
                    }
                ]
            },
        }
        for host, service in hosts
    ]
    return [host for host, _ in hosts], rules


def ingress(spec: AppsSpec) -> Manifest:
    """Apex and www → api (landing page), api host → api, admin host → admin, over HTTP (`web`).

    It exists in every SSL mode: flexible needs it, and keeping it in full/strict means a switch of mode
    in either direction never leaves Cloudflare's current scheme without a route (see `ingress_tls`).
    """
    _, rules = _ingress_rules(spec)
    meta = metadata(PART_OF, spec.apps.namespace, _shared_labels(spec.apps.namespace, "ingress"))
    meta["annotations"] = {"traefik.ingress.kubernetes.io/router.entrypoints": "web"}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta,
        "spec": {"ingressClassName": "traefik", "rules": rules},
    }


def ingress_tls(spec: AppsSpec) -> list[Manifest]:
    """The same routes over HTTPS (`websecure`) with the Origin CA certificate; none in flexible mode.

    A separate object because Traefik's `router.tls` makes a router match TLS requests only: one Ingress
    can't serve both schemes, and Cloudflare must find its scheme served while the SSL mode changes.
    """
    if spec.tls_secret_name is None:
        return []
    hosts, rules = _ingress_rules(spec)
    meta = metadata(f"{PART_OF}-tls", spec.apps.namespace, _shared_labels(spec.apps.namespace, "ingress"))
    meta["annotations"] = {
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
        "traefik.ingress.kubernetes.io/router.tls": "true",
    }
    body = {
        "ingressClassName": "traefik",
        "rules": rules,
        "tls": [{"hosts": hosts, "secretName": spec.tls_secret_name}],
    }
    return [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": body}]


def origin_pull_probe_ingress(spec: AppsSpec) -> list[Manifest]:
    """Full/strict: `ORIGIN_PULL_PROBE_PATH` on the apex over HTTPS, the one router with an access log (Traefik's
    entrypoints turn it off for all others: components/k8s/traefik_values.py access_log_values). Its log lines show
    whether Cloudflare presents our origin-pull certificate (`TLSClientSubject`), what the operator checks before
    phase 2 (docs/runbook.md). The api answers it as any unknown path; only the log line matters. Reachable through
    Cloudflare only, like every route on 443 (the firewall, and the entrypoint's Cloudflare-only middleware)."""
    if spec.tls_secret_name is None:
        return []
    meta = metadata(f"{PART_OF}-origin-pull-probe", spec.apps.namespace, _shared_labels(spec.apps.namespace, "ingress"))
    meta["annotations"] = {
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
        "traefik.ingress.kubernetes.io/router.tls": "true",
        # A router's own setting wins over its entrypoint's (traefik v3.6.10 pkg/server/aggregator.go L225-L227).
        "traefik.ingress.kubernetes.io/router.observability.accesslogs": "true",
    }
    path = {
        "path": ORIGIN_PULL_PROBE_PATH,
        "pathType": "Exact",
        "backend": {"service": {"name": API, "port": {"name": "http"}}},
    }
    body = {"ingressClassName": "traefik", "rules": [{"host": spec.apps.domain, "http": {"paths": [path]}}]}
    return [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": body}]


def all_objects(spec: AppsSpec) -> list[Manifest]:
    """Every object but Traefik's HelmChartConfig, in apply order.

    Namespace first; then config and secret shells; then the NetworkPolicies, so no pod ever runs
    unfenced; redis before its clients; the Ingresses last, once their backends exist.
    """
    secrets = [secret_shell(name, keys, spec.apps.namespace) for name, keys in SECRET_KEYS.items()]
    return [
        namespace(spec),
        configmap(spec),
        *secrets,
        registry_secret_shell(spec.apps.namespace),
        *tls_secret_shells(spec),
        *network_policies(spec),
        *redis_objects(spec),
        *api_objects(spec),
        *admin_objects(spec),
        *worker_objects(spec),
        ingress(spec),
        *ingress_tls(spec),
        *origin_pull_probe_ingress(spec),
    ]
