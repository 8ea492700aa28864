"""Which input changes make the real engine replace a resource, per resource type used by the program.

Every row cites the provider code it was read from, at the commit named in the URL. The bridged providers
(pulumi-hcloud, pulumi-cloudflare, pulumi-tls, pulumi-random) take replace-forcing properties from the
Terraform schema (`ForceNew`, `RequiresReplace`); property names here are Pulumi's (camelCase). The
Python SDK versions pinned in requirements.txt bridge older provider releases than these commits: re-read
the rows when a pin moves. pulumi-kubernetes decides in its own diff code (`forceNewProperties`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from offline.engine_model import path_under
from offline.records import Registration, SecretValue, Unknown

HCLOUD = (
    "https://github.com/hetznercloud/terraform-provider-hcloud/blob/f81c9af4bfcc491f8b43f800c853fb77f8a7b792/internal/"
)
CLOUDFLARE = (
    "https://github.com/cloudflare/terraform-provider-cloudflare/blob/a2efdc5786ae9726d56928dbfe91933bd92404ca/"
    "internal/services/"
)
TLS = "https://github.com/hashicorp/terraform-provider-tls/blob/d72d90e1b47b7cb5ce6863f528af3154963d61b7/internal/provider/"
RANDOM = "https://github.com/hashicorp/terraform-provider-random/blob/ad788e233bb42be5ecad3ba8f43de0d9d9dc7185/internal/provider/"
K8S = "https://github.com/pulumi/pulumi-kubernetes/blob/94977969d64112b04e19945818a7d5d5f38f631d/provider/pkg/provider/"
COMMAND = (
    "https://github.com/pulumi/pulumi-command/blob/010bd8e0dd8a2f13707aa3b5061739edd90790a5/provider/pkg/provider/"
)
K8S_DIFF = K8S + "diff.go"
K8S_DIFF_CONFIG = K8S + "provider.go#L454-L569"


@dataclass(frozen=True)
class Rule:
    """Input paths of one resource type whose change forces a replacement, and where that is written."""

    type: str
    paths: tuple[str, ...]
    source: str
    note: str = ""


_ROWS = (
    # `datacenter` forced a replacement up to v1.66.1; from v1.67.0 it is deprecated, never ForceNew, and
    # never read back (v1.68.0 server/resource.go).
    Rule("hcloud:index/server:Server", ("image", "location", "userData", "sshKeys"),
         HCLOUD + "server/resource.go#L54-L113", "serverType, networks, firewallIds, labels, protection: in place"),
    Rule("hcloud:index/network:Network", ("ipRange",), HCLOUD + "network/resource.go#L37-L42"),
    Rule("hcloud:index/networkSubnet:NetworkSubnet", ("networkId", "type", "networkZone", "ipRange", "vswitchId"),
         HCLOUD + "network/resource_subnet.go#L35-L68"),
    Rule("hcloud:index/placementGroup:PlacementGroup", (), HCLOUD + "placementgroup/resource.go#L28-L160",
         "type: no ForceNew, and Update only sends name and labels"),
    Rule("hcloud:index/sshKey:SshKey", ("publicKey",), HCLOUD + "sshkey/resource.go#L68-L74"),
    Rule("hcloud:index/firewall:Firewall", (), HCLOUD + "firewall/resource.go", "no ForceNew in the schema"),
    Rule("cloudflare:index/dnsRecord:DnsRecord", ("zoneId", "type"), CLOUDFLARE + "dns_record/schema.go#L44-L98"),
    Rule("cloudflare:index/zoneSetting:ZoneSetting", ("zoneId", "settingId"),
         CLOUDFLARE + "zone_setting/schema.go#L29-L42"),
    Rule("cloudflare:index/originCaCertificate:OriginCaCertificate",
         ("csr", "requestType", "hostnames", "requestedValidity"),
         CLOUDFLARE + "origin_ca_certificate/schema.go#L32-L70",
         "requestedValidity: RequiresReplaceIfConfigured"),
    Rule("tls:index/privateKey:PrivateKey", ("algorithm", "rsaBits", "ecdsaCurve"),
         TLS + "resource_private_key.go#L57-L86"),
    Rule("tls:index/certRequest:CertRequest", ("privateKeyPem", "dnsNames", "ipAddresses", "uris", "subject"),
         TLS + "resource_cert_request.go#L43-L192", "privateKeyPem: requireReplaceIfStateContainsPEMString"),
    Rule("random:index/randomPassword:RandomPassword",
         ("keepers", "length", "special", "upper", "lower", "number", "numeric", "minNumeric", "minUpper",
          "minLower", "minSpecial", "overrideSpecial"), RANDOM + "resource_password.go#L570-L720"),
    # `triggers` carries provider:"replaceOnChanges"; a changed create/connection is an update that re-runs
    # create (Command.Update), pulumi-command #447 and #159.
    Rule("command:remote:Command", ("triggers",), COMMAND + "common/inputs.go#L10",
         "connection/create/update/delete: in place (remote/commandController.go Update)"),
    # Kubernetes kinds: .metadata.name/.namespace for every kind, plus the kind's own immutable fields.
    Rule("kubernetes:apps/v1:Deployment", ("spec.selector",), K8S_DIFF + "#L171-L176"),
    Rule("kubernetes:apps/v1:StatefulSet",
         ("spec.podManagementPolicy", "spec.revisionHistoryLimit", "spec.selector", "spec.serviceName",
          "spec.volumeClaimTemplates"), K8S_DIFF + "#L196-L205"),
    Rule("kubernetes:core/v1:Service", ("spec.clusterIP",), K8S_DIFF + "#L158-L160"),
    Rule("kubernetes:core/v1:PersistentVolumeClaim",
         ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"), K8S_DIFF + "#L111-L118"),
    Rule("kubernetes:core/v1:Secret", ("type",), K8S_DIFF + "#L28-L30",
         "data/stringData too unless the provider sets enableSecretMutable (and the Secret is not immutable)"),
    Rule("kubernetes:core/v1:ConfigMap", (), K8S_DIFF + "#L32-L34",
         "data/binaryData unless the provider sets enableConfigMapMutable (and the ConfigMap is not immutable)"),
    Rule("kubernetes:apps/v1:DaemonSet", ("spec.selector",), K8S_DIFF + "#L164-L169"),
    Rule("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", ("roleRef",), K8S_DIFF + "#L65-L68"),
    Rule("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", ("roleRef",), K8S_DIFF + "#L65-L68"),
    Rule("kubernetes:storage.k8s.io/v1:StorageClass", ("parameters", "provisioner"), K8S_DIFF + "#L70-L77"),
    Rule("kubernetes:batch/v1:Job", ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
         K8S_DIFF + "#L78-L83"),
    Rule("kubernetes:policy/v1:PodDisruptionBudget", (), K8S_DIFF + "#L63",
         "only policy/v1beta1 replaces on .spec; policy/v1 is updated in place"),
)  # fmt: skip
_PLAIN_K8S_KINDS = (
    "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ServiceAccount", "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:helm.cattle.io/v1:HelmChartConfig",
    # Not in forceNew at all (diff.go#L45-L84): only their metadata replaces them.
    "kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:batch/v1:CronJob", "kubernetes:storage.k8s.io/v1:CSIDriver",
)  # fmt: skip
RULES: dict[str, Rule] = {r.type: r for r in _ROWS} | {
    kind: Rule(kind, (), K8S_DIFF + "#L23-L38", "no kind-specific field: only metadata") for kind in _PLAIN_K8S_KINDS
}
K8S_METADATA = Rule("kubernetes:*", ("metadata.name", "metadata.namespace"), K8S_DIFF + "#L207-L212")
PROVIDER_RULES: dict[str, Rule] = {
    "pulumi:providers:kubernetes": Rule(
        "pulumi:providers:kubernetes",
        ("kubeconfig", "context", "cluster", "clusterIdentifier"),
        K8S_DIFF_CONFIG,
        "replaced when the active cluster (server, CA …) changes or the kubeconfig is unknown, unless an unchanged "
        "clusterIdentifier is set",
    ),
    **{
        f"pulumi:providers:{name}": Rule(f"pulumi:providers:{name}", (), "", "not verified: assumed never replaced")
        for name in ("hcloud", "cloudflare", "command", "tls", "random")
    },
}


K8S_API = "https://github.com/kubernetes/kubernetes/blob/v1.34.0/pkg/apis/storage/validation/validation.go"
API_IMMUTABLE: dict[str, Rule] = {
    # The API server rejects a change of these with 422 Invalid (apiserver rest/update.go), and pulumi-kubernetes'
    # forceNew table lacks them (diff.go L70-L77 has only parameters and provisioner; no CSIDriver row): its
    # Update fails, it never retries as a replace (await.go L643-L677, provider.go L2453-L2507). The program
    # replaces them instead (components/k8s/objects.API_IMMUTABLE via replaceOnChanges).
    "kubernetes:storage.k8s.io/v1:StorageClass": Rule(
        "kubernetes:storage.k8s.io/v1:StorageClass", ("reclaimPolicy", "volumeBindingMode"),
        K8S_API + " ValidateStorageClassUpdate (reclaimPolicy Forbidden, volumeBindingMode ValidateImmutableField)",
    ),
    "kubernetes:storage.k8s.io/v1:CSIDriver": Rule(
        "kubernetes:storage.k8s.io/v1:CSIDriver", ("spec.attachRequired", "spec.volumeLifecycleModes"),
        K8S_API + " ValidateCSIDriverUpdate; k8s.io/api v0.34.0 storage/v1/types.go L294, L341 (immutable)",
    ),
}  # fmt: skip


def api_rejects(type_: str, properties: tuple[str, ...]) -> str:
    """Why the Kubernetes API server refuses updating `properties` of a `type_` object in place ("" = it doesn't)."""
    rule = API_IMMUTABLE.get(type_)
    if rule is None:
        return ""
    hit = sorted({p for p in properties for f in rule.paths if path_under(f, p.removesuffix(" (unknown)"))})
    return f"the API server rejects a change of {', '.join(hit)} (422 Invalid; {rule.source})" if hit else ""


def rule_for(type_: str) -> Rule:
    """The row of `type_`; a type without a row is an error, never a silent "in place"."""
    rule = RULES.get(type_) or PROVIDER_RULES.get(type_)
    if rule is None:
        raise KeyError(f"no replace rule for {type_}: add a row with its upstream source to offline/replace_rules.py")
    return rule


def _flag(inputs: Mapping[str, Any], key: str) -> bool:
    """A boolean provider input: the SDK sends provider config as strings ("true")."""
    value = inputs.get(key)
    return value is True or value == "true"


def forcing_paths(reg: Registration, provider_inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, source) of every input path whose change replaces `reg`, given its provider's inputs."""
    rule = rule_for(reg.type)
    paths = [(p, rule.source) for p in rule.paths]
    if reg.type.startswith("kubernetes:"):
        paths += [(p, K8S_METADATA.source) for p in K8S_METADATA.paths]
        immutable = reg.inputs.get("immutable") is True
        if reg.type == "kubernetes:core/v1:Secret" and (immutable or not _flag(provider_inputs, "enableSecretMutable")):
            paths += [("data", rule.source), ("stringData", rule.source)]
        mutable_cm = _flag(provider_inputs, "enableConfigMapMutable")
        if reg.type == "kubernetes:core/v1:ConfigMap" and (immutable or not mutable_cm):
            paths += [("data", rule.source), ("binaryData", rule.source)]
    return paths


def _revealed(value: Any) -> Any:
    return value.value if isinstance(value, SecretValue) else value


def _active_cluster(kubeconfig: str, overrides: Mapping[str, Any]) -> dict[str, Any] | None:
    """The cluster entry the kubeconfig's (or the overriding) context points at (getActiveClusterFromConfig)."""
    config = yaml.safe_load(kubeconfig) or {}
    context_name = overrides.get("context") or config.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    cluster_name = overrides.get("cluster") or contexts.get(context_name, {}).get("cluster")
    clusters = {c.get("name"): c.get("cluster") for c in config.get("clusters") or []}
    found = clusters.get(cluster_name)
    return found if isinstance(found, dict) else None


def provider_replacement(type_: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Why the engine replaces a provider whose inputs go from `old` to `new` ("" = it does not).

    Only pulumi-kubernetes replaces itself (DiffConfig, K8S_DIFF_CONFIG); a replaced provider replaces every
    resource it manages (engine `providerChanged`, offline.engine_diff)."""
    if type_ != "pulumi:providers:kubernetes":
        rule_for(type_)
        return ""
    old_id, new_id = _revealed(old.get("clusterIdentifier")), _revealed(new.get("clusterIdentifier"))
    if old_id is not None and new_id is not None:
        # Set on both sides: it alone decides (an unchanged identifier suppresses every other replace).
        return "" if old_id == new_id else "clusterIdentifier changed"
    if any(isinstance(_revealed(new.get(k)), Unknown) for k in ("kubeconfig", "context", "cluster")):
        return "kubeconfig unknown at preview: replaced conservatively (no clusterIdentifier)"
    old_kc, new_kc = _revealed(old.get("kubeconfig")), _revealed(new.get("kubeconfig"))
    if not isinstance(old_kc, str) or not isinstance(new_kc, str) or old_kc == new_kc:
        return ""
    before, after = _active_cluster(old_kc, old), _active_cluster(new_kc, new)
    if before is not None and after is not None and before != after:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        return f"kubeconfig's active cluster changed ({', '.join(changed)}) and no clusterIdentifier is set"
    return ""


def delete_blocker(old: Registration) -> str:
    """A provider-side refusal to delete `old` ("" = none): Hetzner's delete protection is not lifted by the
    provider's Delete (HCLOUD server/resource.go resourceServerDelete, L920-L960), the API refuses it."""
    if old.type == "hcloud:index/server:Server" and old.inputs.get("deleteProtection") in (True, "true"):
        return f"Hetzner delete protection is on ({HCLOUD}server/resource.go#L920-L960): lift it first"
    return ""


def provider_deletes_first(old: Registration, new: Registration) -> str:
    """Why the provider's own Diff asks for delete-before-replace ("" = it does not): pulumi-kubernetes does
    when the replaced object keeps its fixed name and namespace (two objects can't share them)."""
    if not new.type.startswith("kubernetes:"):
        return ""
    before, after = old.inputs.get("metadata") or {}, new.inputs.get("metadata") or {}
    name = after.get("name")
    if name and name == before.get("name") and after.get("namespace") == before.get("namespace"):
        return f"pulumi-kubernetes deletes first: the replacement keeps the name {name} ({K8S}provider.go#L1645-L1657)"
    return ""
