"""The typed stack config: frozen dataclasses that components take. Read and validated in config.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi

SslMode = Literal["flexible", "full", "strict"]
EdgeOrigins = Literal["records", "loadBalancer"]
KubeProxyMode = Literal["ipvs", "iptables", "nftables"]
FlannelBackend = Literal["vxlan", "wireguard-native"]


@dataclass(frozen=True)
class Secret:
    """A secret config value; its repr never shows the value."""

    key: str
    value: str = field(repr=False)

    def output(self) -> pulumi.Output[str]:
        """The value as a secret Output, so the engine encrypts it in state."""
        return pulumi.Output.secret(self.value)


@dataclass(frozen=True, kw_only=True)
class NodesConfig:
    location: str
    """Hetzner location of every node."""
    network_zone: str
    """Network zone of the private subnet."""
    server_type: str
    """Hetzner server type of the K3s servers."""
    server_image: str
    """Image of new servers."""
    server_count: int
    """Number of K3s servers (odd)."""
    agent_count: int
    """Number of K3s agents (0 = none); they join after the servers."""
    agent_server_type: str
    """Hetzner server type of the K3s agents."""
    ssh_public_keys: tuple[str, ...]
    """Operators' OpenSSH public keys."""
    admin_cidrs: tuple[str, ...]
    """Operators' networks: SSH and the Kubernetes API."""
    deployer_cidrs: tuple[str, ...]
    """The CI machine that runs `pulumi up`: SSH and the Kubernetes API."""
    private_network_cidr: str
    """Hetzner private network."""
    private_subnet_cidr: str
    """Subnet of the private network holding the nodes' fixed addresses."""
    hcloud_firewall: bool
    """Render the rule model as a Hetzner Cloud Firewall as well."""
    origin_lockdown: bool
    """80/443 only from Cloudflare's ranges."""
    protect: bool
    """Delete/rebuild protection and Pulumi `protect` on long-lived resources."""
    adopted_host_keys: Mapping[str, str] = field(default_factory=dict)
    """Server name -> the SSH host key ("<type> <base64>") of a node this stack adopted instead of created."""
    replaceable: frozenset[str] = frozenset()
    """Nodes released for a replacement or a scale-in (replaceableNodes): unprotected, their leave step armed."""
    deploy_key_generation: int = 1
    """Which deploy key the stack logs in with (deployKeyGeneration): raising it by one rotates the key."""

    def protects(self, node: str) -> bool:
        """Whether `node`'s server is protected (Pulumi and Hetzner) and its leave step refuses to run."""
        return self.protect and node not in self.replaceable


@dataclass(frozen=True, kw_only=True)
class EtcdS3Config:
    bucket: str
    """Bucket of off-site etcd snapshots."""
    folder: str
    """Folder in the bucket."""
    endpoint: str
    """S3 endpoint host (not a URL)."""
    region: str
    """S3 region."""
    access_key: Secret
    """Key id."""
    secret_key: Secret
    """Application key."""
    retention: int
    """Snapshots kept in the bucket (etcd-s3-retention)."""


@dataclass(frozen=True, kw_only=True)
class K3sConfig:
    version: str
    """K3s release, vX.Y.Z+k3sN."""
    cluster_cidr: str
    """Pod network."""
    service_cidr: str
    """Service network."""
    kube_proxy_mode: KubeProxyMode
    """kube-proxy mode."""
    flannel_backend: FlannelBackend
    """Flannel backend."""
    api_dns_name: str | None
    """DNS name of the Kubernetes API, or None to use server 1's public IP."""
    etcd_snapshot_schedule: str
    """Cron schedule of local etcd snapshots."""
    etcd_snapshot_retention: int
    """Number of snapshots kept."""
    etcd_s3: EtcdS3Config | None
    """Off-site snapshots, or None when off."""
    token: Secret | None = None
    """The running cluster's token (adopted clusters), or None to generate one."""


@dataclass(frozen=True, kw_only=True)
class AppsConfig:
    namespace: str
    """Kubernetes namespace of the workloads."""
    domain: str
    """Zone and apex hostname."""
    api_hostname: str
    """Hostname of the API."""
    admin_hostname: str
    """Hostname of the admin app."""
    api_image: str
    """Image of the API."""
    admin_image: str
    """Image of the admin app."""
    worker_image: str
    """Image of the worker (always one replica: the Asynq scheduler is a singleton)."""
    redis_image: str
    """Image of Redis."""
    api_replicas: int
    """Replicas of the API."""
    admin_replicas: int
    """Replicas of the admin app."""
    api_startup_failure_threshold: int
    """startupProbe failureThreshold of the API."""
    admin_startup_failure_threshold: int
    """startupProbe failureThreshold of the admin app."""
    redis_storage_size: str
    """Size of Redis's volume."""
    image_registry: str
    """Registry host of the app images."""
    registry_username: str
    """Image-pull user."""
    registry_password: Secret
    """Image-pull token."""

    @property
    def public_hostnames(self) -> tuple[str, ...]:
        """Apex and www (the api's landing page), the api and the admin app."""
        return (self.domain, f"www.{self.domain}", self.api_hostname, self.admin_hostname)


@dataclass(frozen=True, kw_only=True)
class ServicesConfig:
    database_url: Secret
    """Neon Postgres URL (pooler host)."""
    b2_bucket: str
    """Uploads bucket."""
    b2_endpoint: str
    """B2 S3 endpoint host."""
    b2_region: str
    """B2 region."""
    b2_key_id: Secret
    """B2 key id."""
    b2_application_key: Secret
    """B2 application key."""
    smtp_host: str
    """SMTP host."""
    smtp_port: int
    """SMTP port."""
    smtp_username: Secret
    """SMTP user."""
    smtp_password: Secret
    """SMTP password."""
    app_secret_key: Secret
    """The app's signing key."""


@dataclass(frozen=True, kw_only=True)
class EdgeConfig:
    zone_id: str | None
    """Cloudflare zone id, or None to look it up by the domain."""
    ssl_mode: SslMode
    """Cloudflare SSL mode."""
    origin_cert_validity_days: int
    """Validity of the Origin CA certificate."""
    origins: EdgeOrigins = "records"
    """How Cloudflare reaches the servers: proxied DNS records (any plan), or a Load Balancing pool whose monitor
    takes a server that stops serving out of rotation (the Load Balancing add-on)."""
    account_id: str | None = None
    """Cloudflare account id: the pool and its monitor live in the account (loadBalancer only)."""
    origin_pulls_required: bool = False
    """Phase 2 of Authenticated Origin Pulls (full/strict only): Traefik refuses a client without our certificate.
    False (phase 1): it asks for a certificate and serves any or none (RequestClientCert), verifying nothing."""


@dataclass(frozen=True, kw_only=True)
class MaintenanceConfig:
    csi_token: Secret
    """Hetzner token of the hcloud CSI driver (Redis's Cloud Volume), kept apart from the stack's own."""
    redis_backup_access_key: Secret
    """Key id of the Redis backup job's own B2 key (restricted to redisBackupFolder); never the etcd key."""
    redis_backup_secret_key: Secret
    """Its application key."""
    redis_backup_schedule: str
    """Cron schedule of Redis snapshots to the off-site bucket (etcdS3Bucket)."""
    redis_backup_folder: str
    """Folder in that bucket for Redis snapshots."""
    reboot_days: tuple[str, ...]
    """Days kured may reboot a node (sun … sat)."""
    reboot_start: str
    """Start of the reboot window, HH:MM."""
    reboot_end: str
    """End of the reboot window, HH:MM."""
    reboot_time_zone: str
    """IANA time zone of the window."""


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    stack: str
    """Stack name (prod)."""
    nodes: NodesConfig
    """Hetzner nodes and their firewall."""
    k3s: K3sConfig
    """The cluster."""
    apps: AppsConfig
    """The workloads."""
    services: ServicesConfig
    """Data services outside the cluster."""
    edge: EdgeConfig
    """Cloudflare."""
    maintenance: MaintenanceConfig
    """Redis's volume and backups, patch reboots."""
    adopt: Mapping[str, str]
    """Resource name -> provider id of existing resources to import (empty: nothing to adopt)."""
    deploy_key_first: bool = False
    """adoptDeployKeyFirst: build only the deploy key, before an adoption (docs/migration.md step 3)."""
    preview_without_secrets: bool = False
    """previewWithoutSecrets: the read-only environment's previews (components/preview_mode.py)."""
