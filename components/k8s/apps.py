"""The app layer in namespace honeydue: api, admin, worker, redis, their config, secrets, ingress,
budgets and network policies, from the pure builders in components/k8s (manifests.py and what it gathers)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.anatomy import child_options
from components.config.model import AppsConfig, ServicesConfig
from components.k8s import access, checksums, manifests
from components.k8s.objects import create_object

PHASES = ["namespace", "setup", "workloads", "routes"]
# Services go with the workloads: pulumi-kubernetes awaits a Service until a pod behind it is ready, so a
# Service in "setup" would make every workload wait for the api's rollout (and its first-boot migration).
PHASE_OF = {
    "Namespace": "namespace",
    "Deployment": "workloads",
    "StatefulSet": "workloads",
    "Service": "workloads",
    "Ingress": "routes",
}


WORKLOAD_KINDS = ("Deployment", "StatefulSet")
SecretValues = Mapping[tuple[str, str], Mapping[str, pulumi.Input[str]]]


def _with_checksums(
    manifest: manifests.Manifest,
    configmap_data: Mapping[tuple[str, str], Mapping[str, str]],
    secret_values: SecretValues,
) -> manifests.Manifest:
    """The workload with the checksums of the ConfigMaps and Secrets its pods read on its pod template."""
    namespace = manifest["metadata"]["namespace"]
    configmaps, secrets = checksums.pod_reads(manifest)
    missing = [f"ConfigMap {n}" for n in configmaps if (namespace, n) not in configmap_data] + [
        f"Secret {n}" for n in secrets if (namespace, n) not in secret_values
    ]
    if missing:
        raise ValueError(f"{manifest['metadata']['name']} reads objects this component does not build: {missing}")
    annotations: dict[str, pulumi.Input[str]] = {}
    if configmaps:
        annotations[checksums.CONFIG_ANNOTATION] = checksums.digest(
            {n: configmap_data[(namespace, n)] for n in configmaps}
        )
    if secrets:
        values = pulumi.Output.all(*[pulumi.Output.all(**dict(secret_values[(namespace, n)])) for n in secrets])
        secret_digest = values.apply(lambda resolved: checksums.digest(dict(zip(secrets, resolved, strict=True))))
        # Deliberately not secret: a SHA-256 over all of a pod's Secrets, each of which holds a high-entropy
        # value (the 32+ character app key, the random Redis password), reveals nothing, and a visible
        # digest shows in the preview *why* a Deployment rolls. The values themselves never leave the apply.
        annotations[checksums.SECRET_ANNOTATION] = pulumi.Output.unsecret(secret_digest)
    return checksums.with_template_annotations(manifest, annotations) if annotations else manifest


@dataclass(frozen=True, kw_only=True)
class OriginTls:
    """The Origin CA certificate served in full/strict SSL mode."""

    certificate_pem: pulumi.Input[str]
    """Certificate chain (PEM)."""
    private_key_pem: pulumi.Input[str]
    """Its private key (PEM), secret."""


@dataclass(frozen=True, kw_only=True)
class AppsArgs:
    spec: manifests.AppsSpec
    """Plain description of every object, with the config it holds (tls_secret_name set in full/strict mode)."""
    origin_tls: OriginTls | None = None
    """The certificate, required when spec.tls_secret_name is set."""


class Apps(pulumi.ComponentResource):
    """Every object of the app layer, each with an explicit name, through the cluster's provider."""

    spec: manifests.AppsSpec
    """What the objects were built from."""
    objects: dict[str, pulumi.CustomResource]
    tls_objects: list[pulumi.CustomResource]
    consumer_token: pulumi.Output[str]
    """Token of the read-only ServiceAccount of the namespace (secret); see components/k8s/access.py."""
    namespace: str

    def __init__(self, name: str, args: AppsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:apps:Apps", name, None, opts)
        spec = args.spec
        if (spec.tls_secret_name is None) != (args.origin_tls is None):
            raise ValueError("origin_tls is required exactly when spec.tls_secret_name is set")
        # Redis's password goes into a redis config line: alphanumeric only.
        redis_password = random.RandomPassword(
            f"{name}-redis-password", length=40, special=False, opts=pulumi.ResourceOptions(parent=self)
        ).result
        secret_values = self._secret_values(args, redis_password)

        self.spec = spec
        self.objects = {}
        # Apply order in phases: the namespace; what pods read or are fenced by; the workloads; the routes.
        waits_for: dict[str, list[pulumi.Resource]] = {phase: [] for phase in PHASES}
        # The consumers' read-only access goes with the setup phase: it needs only the namespace.
        built = [*manifests.all_objects(spec), *access.consumer_access_objects(spec.apps.namespace)]
        configmap_data = {
            (m["metadata"]["namespace"], m["metadata"]["name"]): m["data"] for m in built if m["kind"] == "ConfigMap"
        }
        for manifest in built:
            meta, kind = manifest["metadata"], manifest["kind"]
            if kind in WORKLOAD_KINDS:
                manifest = _with_checksums(manifest, configmap_data, secret_values)
            phase = PHASE_OF.get(kind, "setup")
            values = secret_values.get((meta.get("namespace", ""), meta["name"])) if kind == "Secret" else None
            resource = create_object(manifest, child_options(self, opts, depends_on=waits_for[phase]), values)
            self.objects[f"{kind}/{meta.get('namespace', '')}/{meta['name']}"] = resource
            for later in PHASES[PHASES.index(phase) + 1 :]:
                waits_for[later].append(resource)
        # What serves the origin certificate: the TLS Secrets and the HTTPS Ingress (none in flexible mode).
        self.tls_objects = [
            resource
            for key, resource in self.objects.items()
            if spec.tls_secret_name is not None
            and ((key.startswith("Secret/") and key.endswith("/" + spec.tls_secret_name)) or (key.startswith("Ingress/")
                 and key.endswith("-tls")))
        ]  # fmt: skip
        # Routes of the public hostnames: a node serves the site once its Traefik has them (edge/serving.py).
        self.ingresses = [resource for key, resource in self.objects.items() if key.startswith("Ingress/")]
        self.namespace = spec.apps.namespace
        token_secret = self.objects[f"Secret/{spec.apps.namespace}/{access.CONSUMER_TOKEN_SECRET}"]
        if not isinstance(token_secret, k8s.core.v1.Secret):
            raise TypeError(f"{access.CONSUMER_TOKEN_SECRET} must be registered as a Secret")
        # `data.token` is base64, filled by the token controller before the provider reports the Secret created.
        self.consumer_token = pulumi.Output.secret(
            token_secret.data.apply(lambda data: base64.b64decode((data or {}).get("token", "")).decode())
        )
        self.register_outputs({"namespace": self.namespace, "objects": sorted(self.objects)})

    def _secret_values(self, args: AppsArgs, redis_password: pulumi.Output[str]) -> SecretValues:
        spec = args.spec
        services, apps = spec.services, spec.apps
        values: dict[tuple[str, str], Mapping[str, pulumi.Input[str]]] = {
            (spec.apps.namespace, manifests.APP_SECRET): {
                "DATABASE_URL": services.database_url.output(),
                "APP_SECRET_KEY": services.app_secret_key.output(),
                "SMTP_USERNAME": services.smtp_username.output(),
                "SMTP_PASSWORD": services.smtp_password.output(),
                "B2_KEY_ID": services.b2_key_id.output(),
                "B2_APPLICATION_KEY": services.b2_application_key.output(),
            },
            (spec.apps.namespace, manifests.REDIS_SECRET): {
                "REDIS_PASSWORD": redis_password,
                "REDIS_URL": redis_password.apply(lambda p: manifests.redis_url(p, spec.apps.namespace)),
            },
            (spec.apps.namespace, manifests.REGISTRY_SECRET): {
                ".dockerconfigjson": apps.registry_password.output().apply(
                    lambda token: manifests.dockerconfigjson(apps.image_registry, apps.registry_username, token)
                ),
            },
        }
        if spec.tls_secret_name is not None and args.origin_tls is not None:
            tls_values = {"tls.crt": args.origin_tls.certificate_pem, "tls.key": args.origin_tls.private_key_pem}
            for namespace in (spec.apps.namespace, manifests.TRAEFIK_NAMESPACE):
                values[(namespace, spec.tls_secret_name)] = tls_values
        return values


def apps_spec(
    apps: AppsConfig,
    services: ServicesConfig,
    *,
    cluster_cidr: str,
    node_cidrs: tuple[str, ...],
    tls_secret_name: str | None,
) -> manifests.AppsSpec:
    """The plain description of the app layer from validated config."""
    return manifests.AppsSpec(
        apps=apps, services=services, cluster_cidr=cluster_cidr, node_cidrs=node_cidrs, tls_secret_name=tls_secret_name
    )
