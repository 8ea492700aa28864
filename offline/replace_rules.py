"""Which input changes make the real engine replace a resource, per resource type used by the program.

Where upstream writes the rule down as data (a Terraform schema's `ForceNew`/`RequiresReplace`,
pulumi-kubernetes' `forceNew` table, pulumi-command's `replaceOnChanges`), the paths come from
offline/upstream_rules.json, which `python -m tools.upstream_rules` derives from the source at the pinned
versions with each fact's repository, commit, path, line and sha256 (tests/test_upstream_rules.py holds the
file to the pins). The rows below keep only what is read by hand: notes, and types without such data.
Property names are Pulumi's (camelCase).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from offline.engine_model import path_under
from offline.records import Registration, SecretValue, Unknown

HCLOUD = "https://github.com/hetznercloud/terraform-provider-hcloud/blob/v1.68.0/internal/"
K8S = "https://github.com/pulumi/pulumi-kubernetes/blob/94977969d64112b04e19945818a7d5d5f38f631d/provider/pkg/provider/"
K8S_DIFF = K8S + "diff.go"
K8S_DIFF_CONFIG = K8S + "provider.go#L454-L569"


@dataclass(frozen=True)
class Rule:
    """Input paths of one resource type whose change forces a replacement, and where that is written."""

    type: str
    paths: tuple[str, ...]
    source: str
    note: str = ""


# Hand-read rows: types for which upstream writes no forcing paths (no row in upstream_rules.json).
_ROWS = (
    Rule("hcloud:index/placementGroup:PlacementGroup", (), HCLOUD + "placementgroup/resource.go#L28-L160",
         "type: no ForceNew, and Update only sends name and labels"),
    Rule("hcloud:index/firewall:Firewall", (), HCLOUD + "firewall/resource.go", "no ForceNew in the schema"),
    Rule("kubernetes:core/v1:ConfigMap", (), K8S_DIFF + "#L32-L34",
         "data/binaryData unless the provider sets enableConfigMapMutable (and the ConfigMap is not immutable)"),
    Rule("kubernetes:policy/v1:PodDisruptionBudget", (), K8S_DIFF + "#L63",
         "only policy/v1beta1 replaces on .spec; policy/v1 is updated in place"),
)  # fmt: skip
# What the derived rows can't say, read by hand.
NOTES: dict[str, str] = {
    # `datacenter` forced a replacement up to v1.66.1; from v1.67.0 it is deprecated and never read back.
    "hcloud:index/server:Server": "serverType, networks, firewallIds, labels, protection: in place (side_effects.py)",
    "cloudflare:index/originCaCertificate:OriginCaCertificate": "requestedValidity: RequiresReplaceIfConfigured",
    "tls:index/certRequest:CertRequest": "privateKeyPem: requireReplaceIfStateContainsPEMString",
    # A changed create/connection is an update that re-runs create (Command.Update), pulumi-command #447, #159.
    "command:remote:Command": "connection/create/update/delete: in place (remote/commandController.go Update)",
    "kubernetes:core/v1:Secret": "data/stringData too unless enableSecretMutable is set (and it isn't immutable)",
}  # fmt: skip
_PLAIN_K8S_KINDS = (
    "kubernetes:core/v1:Namespace", "kubernetes:core/v1:ServiceAccount", "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:helm.cattle.io/v1:HelmChartConfig",
    "kubernetes:traefik.io/v1alpha1:Middleware",
    # Not in forceNew at all (diff.go#L45-L84): only their metadata replaces them.
    "kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:batch/v1:CronJob", "kubernetes:storage.k8s.io/v1:CSIDriver",
)  # fmt: skip
UPSTREAM_RULES = Path(__file__).with_name("upstream_rules.json")


def _derived() -> dict[str, Rule]:
    """Rows from offline/upstream_rules.json: each type's top-level forcing paths, cited at the first line."""
    facts: dict[str, list[dict[str, Any]]] = {}
    for fact in json.loads(UPSTREAM_RULES.read_text(encoding="utf-8"))["facts"]:
        facts.setdefault(fact["type"], []).append(fact)
    rows = {}
    for type_, found in facts.items():
        source = found[0]["source"]
        line = min(f["line"] for f in found)
        url = f"https://github.com/{source['repo']}/blob/{source['commit']}/{source['path']}#L{line}"
        paths = tuple(
            sorted({f["property"] for f in found if "." not in f["property"] or type_.startswith("kubernetes:")})
        )
        rows[type_] = Rule(type_, paths, url, f"derived (sha256 {source['sha256'][:12]}…)")
    return rows


DERIVED: dict[str, Rule] = _derived()
_HAND: dict[str, Rule] = {r.type: r for r in _ROWS} | {
    kind: Rule(kind, (), K8S_DIFF + "#L23-L38", "no kind-specific field: only metadata") for kind in _PLAIN_K8S_KINDS
}
RULES: dict[str, Rule] = _HAND | {
    type_: dataclasses.replace(
        row, note="; ".join(n for n in (row.note, _HAND[type_].note if type_ in _HAND else "") if n)
    )
    for type_, row in DERIVED.items()
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


HCLOUD_UNIQUE_NAMES = frozenset({
    "hcloud:index/sshKey:SshKey", "hcloud:index/server:Server", "hcloud:index/network:Network",
    "hcloud:index/placementGroup:PlacementGroup", "hcloud:index/firewall:Firewall",
})  # fmt: skip


def create_first_blocker(old: Registration, new: Registration) -> str:
    """Why creating the replacement before deleting `old` fails ("" = it doesn't): Hetzner names are unique
    per project, and the API refuses a second resource of the name (uniqueness_error; for SSH keys also a
    second key of the same fingerprint). The provider passes the error through (HCLOUD sshkey/resource.go)."""
    name = new.inputs.get("name")
    if new.type in HCLOUD_UNIQUE_NAMES and name is not None and old.inputs.get("name") == name:
        return f"Hetzner refuses a second {new.type.split(':')[-1]} named {new.inputs.get('name')} (uniqueness_error)"
    return ""


def delete_blocker(old: Registration) -> str:
    """A provider-side refusal to delete `old` ("" = none): Hetzner's delete protection is not lifted by the
    provider's Delete (HCLOUD server/resource.go resourceServerDelete, L920-L979), the API refuses it."""
    if old.type == "hcloud:index/server:Server" and old.inputs.get("deleteProtection") in (True, "true"):
        return f"Hetzner delete protection is on ({HCLOUD}server/resource.go#L920-L979): lift it first"
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
