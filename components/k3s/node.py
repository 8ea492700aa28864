"""What one K3s node (server or agent) is given over SSH: its settings, config.yaml and env file.

Pure: plain values in, text out; no Pulumi import. The K3sCluster component renders these over Outputs and
runs them with pulumi-command (the command text: components/k3s/scripts.py). Scripts live in
scripts/k3s/*.sh as real files (shellcheck-able) and read their inputs from the env file rendered here,
never from values spliced into shell code.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.config.model import K3sConfig
from components.remote import RemoteFile
from components.yaml_text import dump_quoted

CONFIG_PATH = "/etc/rancher/k3s/config.yaml"
# The token and the etcd S3 keys: a drop-in K3s merges over config.yaml (pkg/configfilearg/parser.go,
# dotDFiles: every *.yaml of config.yaml.d, https://docs.k3s.io/installation/configuration#multiple-config-files),
# written from the step's stdin so no secret is in the command text (previews, /proc/*/cmdline).
SECRETS_PATH = "/etc/rancher/k3s/config.yaml.d/00-honeydue-secrets.yaml"
SECRET_KEYS = frozenset({"token", "etcd-s3-access-key", "etcd-s3-secret-key"})
ENV_PATH = "/etc/honeydue/k3s.env"
KUBECONFIG_PATH = "/etc/rancher/k3s/k3s.yaml"


_ENV_KEY = re.compile(r"[A-Z_][A-Z0-9_]*", re.ASCII)


K3sRole = Literal["init", "join", "agent"]


@dataclass(frozen=True, kw_only=True)
class K3sNodeSettings:
    """Everything one K3s node needs; identical cluster flags on every server (agents take none of them)."""

    node_name: str
    """Kubernetes node name, e.g. honeydue-1."""
    role: K3sRole
    """init = the genesis server (cluster-init, genesis.py); join = every other server; agent = workloads only."""
    join_url: str | None
    """https://<another server's private IP>:6443 for join and agent, None for init."""
    node_ip: str
    """Private IP: node-ip and advertise-address; install.sh finds the flannel NIC by it."""
    external_ips: tuple[str, ...]
    """Public IPv4 and IPv6 (node-external-ip)."""
    tls_sans: tuple[str, ...]
    """The server's own public and private IPs, and the API DNS name (servers only)."""
    cluster: K3sConfig
    """The cluster's validated settings (CIDRs, proxy mode, flannel, snapshots, release): the same on every node."""
    ready_timeout: int = 600
    """Seconds wait-ready.sh (and upgrade.sh) wait for the node to report Ready."""
    drain_timeout: int = 600
    """Seconds a drain may take (kubectl drain --timeout); PodDisruptionBudgets can hold it that long."""
    start_timeout: int = 600
    """Seconds one `systemctl restart k3s` (k3s-agent) may take (the K3s unit has TimeoutStartSec=0, i.e. none)."""
    cloud_init_timeout: int = 900
    """Seconds wait-cloud-init.sh waits for the first boot to finish."""
    iface_timeout: int = 120
    """Seconds install.sh waits for the NIC holding node_ip to come up."""
    join_attempts: int = 10
    """Starts tried while etcd reports "too many learner members" (join only)."""
    retry_delay: int = 10
    """First backoff in seconds between those starts; doubles up to 60."""
    poll_interval: float = 5.0
    """Seconds between polls of the node's state."""
    lock_timeout: int = 900
    """Seconds a mutating script waits for another one holding the node's lock (lib.sh hold_lock)."""

    def __post_init__(self) -> None:
        if (self.role != "init") != (self.join_url is not None):
            raise ValueError(
                f"{self.node_name}: join_url is required for role join and forbidden for role init"
                " (role agent needs it too)"
            )
        if self.join_url is not None and not self.join_url.startswith("https://"):
            raise ValueError(f"{self.node_name}: join_url must be an https URL: {self.join_url!r}")
        for ip in (self.node_ip, *self.external_ips):
            ipaddress.ip_address(ip)  # raises ValueError naming the bad address
        for name in (
            "ready_timeout",
            "drain_timeout",
            "start_timeout",
            "cloud_init_timeout",
            "join_attempts",
            "lock_timeout",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{self.node_name}: {name} must be at least 1")
        if self.retry_delay < 0 or self.poll_interval < 0 or self.iface_timeout < 0:
            raise ValueError(f"{self.node_name}: retry_delay, poll_interval and iface_timeout must not be negative")


def cluster_flags(s: K3sNodeSettings) -> dict[str, Any]:
    """The config.yaml keys that must be identical on every server.

    K3s refuses a joining server whose critical flags (CIDRs, disable, flannel backend, secrets
    encryption) differ from the cluster's; the rest is kept identical so that any server can take
    snapshots. tls-san is per node (node_config): its own addresses and the API name.
    """
    flags: dict[str, Any] = {
        "cluster-cidr": s.cluster.cluster_cidr,
        "service-cidr": s.cluster.service_cidr,
        # servicelb's svclb pods bind hostPorts 80/443, which the hostNetwork Traefik DaemonSet holds.
        "disable": ["servicelb"],
        # Only takes effect at the cluster's first start; turning it on later needs `k3s secrets-encrypt`.
        "secrets-encryption": True,
        "flannel-backend": s.cluster.flannel_backend,
        "kube-proxy-arg": kube_proxy_args(s),
        # The kubeconfig holds the cluster-admin client key.
        "write-kubeconfig-mode": "0600",
        "etcd-snapshot-schedule-cron": s.cluster.etcd_snapshot_schedule,
        "etcd-snapshot-retention": s.cluster.etcd_snapshot_retention,
    }
    s3 = s.cluster.etcd_s3
    if s3 is not None:
        flags |= {
            "etcd-s3": True,
            "etcd-s3-endpoint": s3.endpoint,
            "etcd-s3-bucket": s3.bucket,
            "etcd-s3-folder": s3.folder,
            "etcd-s3-region": s3.region,
            # Since the 2025-08 releases S3 has its own retention, 5 unless set, no longer
            # etcd-snapshot-retention (k3s-io/k3s#12669; the surprise is k3s-io/k3s#13769). Older
            # releases skip an unknown config.yaml key with a warning (k3s pkg/configfilearg/parser.go).
            "etcd-s3-retention": s3.retention,
        }
    return flags


def s3_credentials(s: K3sNodeSettings) -> dict[str, str]:
    """The etcd S3 keys (servers with off-site snapshots only); they go into the secrets drop-in."""
    s3 = s.cluster.etcd_s3
    if s3 is None or s.role == "agent":
        return {}
    return {"etcd-s3-access-key": s3.access_key.value, "etcd-s3-secret-key": s3.secret_key.value}


def kube_proxy_args(s: K3sNodeSettings) -> list[str]:
    """kube-proxy runs on every node, agents included: the same mode everywhere."""
    # No ipvs-strict-arp: strict ARP only matters when an L2 load balancer (MetalLB, kube-vip in ARP
    # mode) announces Service IPs; we have none (servicelb off, Traefik on each node's own address),
    # and Hetzner's private network is routed, so kube-ipvs0 addresses are never ARPed for.
    return [f"proxy-mode={s.cluster.kube_proxy_mode}"]


def agent_config(s: K3sNodeSettings) -> dict[str, Any]:
    """config.yaml of one agent as a dict (its token goes into the secrets drop-in).

    Only agent flags: `k3s agent` takes the cluster's settings (CIDRs, flannel backend, disabled
    components, secrets encryption) from the server it joins, and has no API server, etcd or admin
    kubeconfig for tls-san, etcd-*, advertise-address or write-kubeconfig-mode to configure.
    """
    return {
        "server": s.join_url,
        "node-name": s.node_name,
        "node-ip": s.node_ip,
        "node-external-ip": list(s.external_ips),
        "kube-proxy-arg": kube_proxy_args(s),
    }


def node_config(s: K3sNodeSettings, token: str) -> dict[str, Any]:
    """Everything K3s reads on one node, as a dict: config.yaml merged with the secrets drop-in."""
    return public_config(s) | secret_config(s, token)


def secret_config(s: K3sNodeSettings, token: str) -> dict[str, Any]:
    """The secrets drop-in (SECRETS_PATH) as a dict: the token, and the etcd S3 keys on servers."""
    if not token:
        raise ValueError("the cluster token must not be empty")
    return {"token": token} | s3_credentials(s)


def public_config(s: K3sNodeSettings) -> dict[str, Any]:
    """config.yaml of one node as a dict (see k3s_config_yaml): no secret in it."""
    if s.role == "agent":
        return agent_config(s)
    config = cluster_flags(s) | {
        "node-name": s.node_name,
        "node-ip": s.node_ip,
        "advertise-address": s.node_ip,
        "node-external-ip": list(s.external_ips),
        # Only this node's names: another server's replacement never changes (restarts) this one.
        "tls-san": list(s.tls_sans),
    }
    if s.role == "init":
        config["cluster-init"] = True
    else:
        config["server"] = s.join_url
    return config


def k3s_config_yaml(s: K3sNodeSettings) -> str:
    """/etc/rancher/k3s/config.yaml of one node: sorted keys, deterministic; no secret (see secrets_yaml).

    flannel-iface is absent on purpose: install.sh finds the NIC holding node_ip on the node and writes it
    into config.yaml.d/10-flannel-iface.yaml, so no interface name is guessed here.
    """
    return dump_quoted(public_config(s), sort_keys=True)


def secrets_yaml(s: K3sNodeSettings, token: str) -> str:
    """The secrets drop-in (SECRETS_PATH): the text a step sends on stdin, never in its command text."""
    return dump_quoted(secret_config(s, token), sort_keys=True)


def render_env(values: Mapping[str, str]) -> str:
    """KEY=value lines, each value shell-quoted, for scripts to source."""
    lines = ["# Rendered by Pulumi (components/k3s/node.py); sourced by the scripts in scripts/k3s/."]
    for key, value in values.items():
        if not _ENV_KEY.fullmatch(key):
            raise ValueError(f"not a shell variable name: {key!r}")
        lines.append(f"{key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def node_env(s: K3sNodeSettings) -> str:
    """/etc/honeydue/k3s.env: the values every script reads."""
    return render_env(
        {
            "K3S_VERSION": s.cluster.version,
            "NODE_NAME": s.node_name,
            "NODE_IP": s.node_ip,
            "ROLE": s.role,
            "READY_TIMEOUT": str(s.ready_timeout),
            "DRAIN_TIMEOUT": str(s.drain_timeout),
            "START_TIMEOUT": str(s.start_timeout),
            "CLOUD_INIT_TIMEOUT": str(s.cloud_init_timeout),
            "IFACE_TIMEOUT": str(s.iface_timeout),
            "JOIN_ATTEMPTS": str(s.join_attempts),
            "RETRY_DELAY": str(s.retry_delay),
            "POLL_INTERVAL": f"{s.poll_interval:g}",
            "LOCK_TIMEOUT": str(s.lock_timeout),
        }
    )


def node_files(s: K3sNodeSettings) -> tuple[RemoteFile, RemoteFile]:
    """config.yaml (0600, as K3s's own files) and the env file (0644); neither holds a secret (secrets_yaml)."""
    return (
        RemoteFile(CONFIG_PATH, "0600", k3s_config_yaml(s)),
        RemoteFile(ENV_PATH, "0644", node_env(s)),
    )


def config_warnings(kube_proxy_mode: str) -> tuple[str, ...]:
    """Things the component should warn about (pulumi.log.warn), e.g. the IPVS deprecation."""
    if kube_proxy_mode == "ipvs":
        return (
            "kube-proxy IPVS mode is deprecated from Kubernetes 1.35; "
            "switch kubeProxyMode to iptables in an `up` of its own before upgrading to 1.35 (docs/runbook.md)",
        )
    return ()
