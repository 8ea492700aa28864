"""The per-step time estimates of the critical-path model (offline/critical_path.py): the table `ESTIMATES`,
each row with its basis, and which Kubernetes objects the provider awaits.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline.records import Registration

SKIP_AWAIT = "pulumi.com/skipAwait"
WORKLOAD_TYPES = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"}
)
SERVICE_TYPE = "kubernetes:core/v1:Service"
INGRESS_TYPE = "kubernetes:networking.k8s.io/v1:Ingress"
HELM_CHART_CONFIG_TYPE = "kubernetes:helm.cattle.io/v1:HelmChartConfig"
DNS_RECORD_TYPE = "cloudflare:index/dnsRecord:DnsRecord"
ZONE_SETTING_TYPE = "cloudflare:index/zoneSetting:ZoneSetting"


class CriticalPathError(ValueError):
    """The graph can't be scheduled: a cycle, a resource without an estimate, or nothing to reach."""


def object_metadata(reg: Registration) -> dict[str, Any]:
    meta = reg.inputs.get("metadata")
    return meta if isinstance(meta, dict) else {}


def skips_await(reg: Registration) -> bool:
    """The Kubernetes object opts out of pulumi-kubernetes' await logic."""
    annotations = object_metadata(reg).get("annotations")
    return isinstance(annotations, dict) and str(annotations.get(SKIP_AWAIT, "")).lower() == "true"


def object_spec(reg: Registration) -> dict[str, Any]:
    spec = reg.inputs.get("spec")
    return spec if isinstance(spec, dict) else {}


def awaits_endpoints(reg: Registration) -> bool:
    """A Service pulumi-kubernetes awaits until its Endpoints target a ready pod."""
    spec = object_spec(reg)
    return (
        reg.type == SERVICE_TYPE
        and not skips_await(reg)
        and bool(spec.get("selector"))
        and spec.get("clusterIP") != "None"
        and spec.get("type", "ClusterIP") != "ExternalName"
    )


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """How long one step takes, for the resources whose type and name match."""

    step: str
    """What happens, in a few words."""
    type: str
    """fnmatch pattern on the resource type."""
    name: str = "*"
    """fnmatch pattern on the resource name."""
    seconds: float
    """Modelled duration from start (every predecessor done) to done, as the engine sees it."""
    basis: str
    """Where the number comes from (one line)."""
    when: Callable[[Registration], bool] | None = field(default=None, compare=False)
    """A further condition on the registration, if any."""

    def matches(self, reg: Registration) -> bool:
        return (
            fnmatch.fnmatchcase(reg.type, self.type)
            and fnmatch.fnmatchcase(reg.name, self.name)
            and (self.when is None or self.when(reg))
        )


K8S = "kubernetes:*"
# First match wins: specific rows before general ones. Seconds are typical values on Hetzner Cloud
# (nbg1, CX33: 4 vCPU, 8 GB) from a CI runner in Europe, rounded up; the basis says why.
ESTIMATES: tuple[Estimate, ...] = (
    # --- local providers ---------------------------------------------------------------------------
    Estimate(step="generate a key", type="tls:index/privateKey:PrivateKey", seconds=1,
             basis="ED25519/ECDSA key made locally by the tls provider: no API call"),
    Estimate(step="make a CSR", type="tls:index/certRequest:CertRequest", seconds=1,
             basis="signed locally by the tls provider"),
    Estimate(step="sign a certificate", type="tls:index/*SignedCert:*SignedCert", seconds=1,
             basis="the origin-pull CA and its client certificates, signed locally by the tls provider"),
    Estimate(step="generate a password", type="random:index/*", seconds=1,
             basis="local crypto/rand in the random provider"),
    # --- Hetzner Cloud -----------------------------------------------------------------------------
    Estimate(step="Hetzner SSH key", type="hcloud:index/sshKey:SshKey", seconds=2,
             basis="one synchronous POST /ssh_keys; no action to poll"),
    Estimate(step="Hetzner placement group", type="hcloud:index/placementGroup:PlacementGroup", seconds=2,
             basis="one synchronous POST /placement_groups"),
    Estimate(step="Hetzner network", type="hcloud:index/network:Network", seconds=2,
             basis="POST /networks plus the change_protection action"),
    Estimate(step="Hetzner subnet", type="hcloud:index/networkSubnet:NetworkSubnet", seconds=3,
             basis="add_subnet action, polled by the provider until done (1-3 s)"),
    Estimate(step="Hetzner firewall", type="hcloud:index/firewall:Firewall", seconds=3,
             basis="POST /firewalls and its set_rules action"),
    Estimate(step="Hetzner server create", type="hcloud:index/server:Server", seconds=35,
             basis="create_server action until 'running' (~10-20 s), then the attach_to_network and "
                   "change_protection actions the provider polls: 30-40 s for a server with a network"),
    # --- K3s over SSH (components/k3s/cluster.py; scripts/k3s/*.sh) ----------------------------------------
    Estimate(step="boot + cloud-init first boot", type="command:remote:Command", name="*-cloud-init", seconds=70,
             basis="sshd of Ubuntu 24.04 answers ~15-20 s after 'running' (dial_error_limit=-1 retries), then "
                   "`cloud-init status --wait`: package_update (apt-get update, ~10-20 s on Hetzner's mirror), "
                   "ufw (preinstalled on Ubuntu cloud images) and the firewall script; 60-90 s after create"),
    Estimate(step="re-key: the node's own SSH host key", type="command:remote:Command", name="*-rekey", seconds=3,
             basis="one SSH session: ssh-keygen of an ed25519 key and a reload of sshd, well under a second on "
                   "the node; the session setup dominates"),
    # Agents (components/k3s/agents.py): before the server rows, whose name patterns they would match too.
    Estimate(step="agent: install K3s, join", type="command:remote:Command", name="*-agent-*-install", seconds=30,
             basis="download as a server's; `k3s agent` registers with the API, no etcd to join: ~15-25 s"),
    Estimate(step="agent: wait for node Ready", type="command:remote:Command", name="*-agent-*-ready", seconds=15,
             basis="as a server's Ready, polled from server 1"),
    Estimate(step="agent: drain (nothing to do at create)", type="command:remote:Command", name="*-agent-*-drain",
             seconds=3, basis="at creation the release is current: one SSH session to server 1, no drain"),
    Estimate(step="agent: settle (Ready, uncordoned)", type="command:remote:Command", name="*-agent-*-settle",
             seconds=5, basis="agent-ready.sh on a Ready node from server 1: one SSH session"),
    Estimate(step="delete-only step", type="command:remote:Command", name="*-agent-*-wipe", seconds=0,
             basis="only a delete command: nothing runs at create"),
    Estimate(step="inert predecessor of a delete-only step", type="command:remote:Command",
             name="*-agent-*-uninstall", seconds=0, basis="no command at all (components/k3s/steps.py leave_step)"),
    Estimate(step="first server: install K3s, start etcd", type="command:remote:Command", name="*-1-install",
             seconds=35,
             basis="install.sh of the release + the k3s binary (<70 MB, GitHub) ~5-10 s; `systemctl restart "
                   "k3s` returns once K3s notifies systemd: etcd initialised, API server up, ~20-30 s"),
    Estimate(step="join a server (etcd learner)", type="command:remote:Command", name="*-install", seconds=60,
             basis="same download, then the etcd learner catches up and is promoted before the start returns "
                   "(~30-50 s); joins are serial by design (etcd admits one learner at a time)"),
    Estimate(step="wait for node Ready", type="command:remote:Command", name="*-ready", seconds=15,
             basis="kubelet registers and flannel sets up the node: Ready ~10-20 s after the API answers "
                   "(wait-ready.sh polls every POLL_INTERVAL)"),
    Estimate(step="converge (nothing to do at create)", type="command:remote:Command", name="*-converge",
             seconds=5,
             basis="at creation upgrade.sh and install.sh find the release and config applied; one SSH "
                   "session + wait-ready on a Ready node"),
    Estimate(step="delete-only step", type="command:remote:Command", name="*-leave", seconds=0,
             basis="only a delete command: nothing runs at create"),
    Estimate(step="inert predecessor of a delete-only step", type="command:remote:Command", name="*-remove",
             seconds=0, basis="no command at all (components/k3s/steps.py leave_step)"),
    Estimate(step="deployer kubeconfig", type="command:remote:Command", name="*-kubeconfig", seconds=5,
             basis="one SSH session: the helm.cattle.io CRDs are registered by K3s's helm-controller as the API "
                   "starts (established before the node is Ready), a kubectl apply/delete/create and the token "
                   "controller filling the Secret (sub-second)"),
    Estimate(step="re-apply the node firewall", type="command:remote:Command", name="*-firewall-sync-*",
             seconds=5, basis="one SSH session; UFW is already converged by cloud-init, so the script changes nothing"),
    Estimate(step="traefik.io CRDs established", type="command:remote:Command", name="*-traefik-crds", seconds=5,
             basis="one SSH session: K3s's helm controller installs the traefik-crd chart as the API server starts, "
                   "its Job done about when server 1 reports Ready (scripts/k3s/wait-traefik-crds.sh)"),
    Estimate(step="wait until the node serves", type="command:remote:Command", name="*-serving-*", seconds=5,
             basis="one SSH session and one curl: it runs after the Ingresses, whose await already waited for "
                   "Traefik to process them, so the node's Traefik answers at once (scripts/edge/wait-serving.sh)"),
    Estimate(step="unattended-upgrades settings", type="command:remote:Command", name="*-node-upgrades-*",
             seconds=5, basis="one SSH session: cloud-init already installed the packages, so the step writes two "
                   "apt.conf.d files, finds the packages, enables the timers (scripts/node/unattended-upgrades.sh)"),
    Estimate(step="served-certificate gate", type="command:remote:Command", name="*-origin-gate-*", seconds=5,
             basis="one SSH session, one TLS handshake per hostname on the node's 127.0.0.1:443: passes in its first "
                   "round once the HelmChartConfig's row (helm job, Traefik restart) is through; bounded at 5 min "
                   "(components/edge/origin_gate.py)"),
    # --- Cloudflare --------------------------------------------------------------------------------
    Estimate(step="Cloudflare DNS record", type=DNS_RECORD_TYPE, seconds=2,
             basis="one POST /zones/:id/dns_records; the zone is on Cloudflare, so a proxied record answers "
                   "at the edge at once (no TTL to wait out)"),
    Estimate(step="Cloudflare zone setting", type=ZONE_SETTING_TYPE, seconds=2,
             basis="one PATCH /zones/:id/settings/:id; effective at the edge within seconds"),
    Estimate(step="Origin CA certificate", type="cloudflare:index/originCaCertificate:OriginCaCertificate",
             seconds=3, basis="one POST /certificates; issued synchronously"),
    Estimate(step="origin-pull certificate upload",
             type="cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate",
             seconds=2, basis="one POST /zones/:id/origin_tls_client_auth; answers pending_deployment at once"),
    Estimate(step="origin-pulls setting",
             type="cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings",
             seconds=2, basis="one PUT /zones/:id/origin_tls_client_auth/settings"),
    Estimate(step="wait: origin-pull certificate deployed", type="command:local:Command", name="*-origin-pulls-active",
             seconds=180, basis="Cloudflare deploys an uploaded client certificate 'within a few minutes' (pending_"
                                "deployment -> active), polled every 10 s; bounded at 15 min (edge/origin_pulls.py)"),
    Estimate(step="wait: the ssl switch reaches the edge", type="command:local:Command", name="*-edge-tls-settle",
             seconds=60, basis="a fixed sleep of edge/tls.py SETTLE_SECONDS: flexible, ssl setting written"),
    # --- Kubernetes (pulumi-kubernetes await logic: provider/pkg/await/*) ----------------------------
    Estimate(step="Kubernetes object (not awaited)", type=K8S, seconds=1, when=skips_await,
             basis="pulumi.com/skipAwait: one API create, no await"),
    Estimate(step="api rollout (migration excluded)", type="kubernetes:apps/v1:Deployment", name="*-api",
             seconds=30,
             basis="pull the Go image (tens of MB, ghcr.io) ~5-10 s, start, startupProbe /healthz passes at its "
                   "first 5 s period (schema current: migration excluded per issue 8), /readyz 5 s later; the 3 "
                   "replicas start together (maxSurge limits updates only)"),
    Estimate(step="admin rollout", type="kubernetes:apps/v1:Deployment", name="*-admin", seconds=35,
             basis="Next.js standalone image (~100-200 MB) pull + unpack ~10-20 s, server start ~5 s, startupProbe "
                   "at 5 s periods, then the readinessProbe at its 10 s period"),
    Estimate(step="worker rollout", type="kubernetes:apps/v1:Deployment", name="*-worker", seconds=15,
             basis="image pull ~5-10 s; no probes, so available as soon as the container runs"),
    Estimate(step="Deployment rollout", type="kubernetes:apps/v1:Deployment", seconds=35,
             basis="any other Deployment: as the slowest app (admin) until measured"),
    Estimate(step="redis rollout (Hetzner Cloud Volume)", type="kubernetes:apps/v1:StatefulSet", seconds=45,
             basis="hcloud CSI: create_volume and attach_volume actions (~5-10 s each, polled by the driver), "
                   "mkfs.ext4 + mount ~5 s; the CSI driver's own pods start in parallel with the apps' setup "
                   "phase; redis alpine (~15 MB) pull ~5 s, startupProbe PING at its first 5 s period; Pulumi "
                   "awaits readyReplicas"),
    Estimate(step="DaemonSet rollout", type="kubernetes:apps/v1:DaemonSet", seconds=30,
             basis="kured (~20 MB) or the hcloud CSI node plugin (three small images) pulled and started on "
                   "every node in parallel; Pulumi awaits numberReady of the desired pods"),
    Estimate(step="Service: endpoints ready + 10 s settle", type=SERVICE_TYPE, seconds=11, when=awaits_endpoints,
             basis="create, then service.go waits for Endpoints with a ready pod and 10 s after the last "
                   "Endpoints event for stragglers"),
    Estimate(step="Service (headless: not awaited)", type=SERVICE_TYPE, seconds=1,
             basis="headless/ExternalName Services are ready once created (service.go)"),
    Estimate(step="Ingress: status + 10 s settle", type=INGRESS_TYPE, seconds=12,
             basis="create; Traefik writes the apex (ingressEndpoint.hostname) as the status on its next sync, "
                   "once the HelmChartConfig's restart (created a minute earlier) is through; ingress.go "
                   "waits 10 s after Endpoints events to settle"),
    Estimate(step="Traefik: HelmChartConfig + restart", type=HELM_CHART_CONFIG_TYPE, seconds=60,
             basis="created without await; K3s's helm-controller re-runs helm-install-traefik (~15-20 s) and the "
                   "hostNetwork DaemonSet pod starts on the Ready node; covers K3s's own first Traefik install "
                   "(image ~50 MB) still running"),
    Estimate(step="Namespace", type="kubernetes:core/v1:Namespace", seconds=2,
             basis="create; Pulumi waits for phase Active, immediate for a new namespace"),
    Estimate(step="Kubernetes object", type=K8S, seconds=1,
             basis="ConfigMap, Secret, ServiceAccount, NetworkPolicy, PodDisruptionBudget, RBAC, StorageClass, "
                   "CSIDriver, CronJob: one API create, no await logic"),
)  # fmt: skip


def estimate_for(reg: Registration, estimates: Sequence[Estimate] = ESTIMATES) -> Estimate | None:
    """The estimate of a custom resource (first match), None for components and providers (no time)."""
    if not reg.custom or reg.type.startswith("pulumi:providers:"):
        return None
    for estimate in estimates:
        if estimate.matches(reg):
            return estimate
    raise CriticalPathError(f"no estimate for {reg.type} {reg.name}: add a row to offline.estimates.ESTIMATES")
