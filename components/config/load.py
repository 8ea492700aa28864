"""The one place that reads and validates stack config.

Every key is read once into frozen dataclasses. All problems are collected and raised together as a
`ConfigError` (a `pulumi.RunError`, which the CLI prints without a traceback) before any resource is
created. Defaults live in Pulumi.yaml only: the CLI (and the offline harness) applies them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection, Mapping
from typing import Literal, cast

import pulumi

from components.config import checks as check
from components.config import networks
from components.config.model import (
    AppsConfig,
    Credentials,
    EdgeConfig,
    EtcdS3Config,
    FlannelBackend,
    K3sConfig,
    KubeProxyMode,
    MaintenanceConfig,
    NodesConfig,
    Secret,
    ServicesConfig,
    SslMode,
    StackConfig,
)
from components.config.sdk import namespace_config

NAMESPACE = "honeydue"
Kind = Literal["string", "integer", "boolean", "array"]


class ConfigError(pulumi.RunError):
    """Every problem of the stack config, one line each; raised before anything is created."""

    def __init__(self, problems: list[str], missing_secrets: list[str]) -> None:
        self.problems = problems
        self.missing_secrets = missing_secrets
        lines = [f"the stack config has {len(problems) + len(missing_secrets)} problem(s):"]
        lines += [f"  - {p}" for p in problems]
        if missing_secrets:
            lines.append("  - required secrets are not set; set each with:")
            lines += [f"      pulumi config set --secret {NAMESPACE}:{k} <value>" for k in missing_secrets]
        super().__init__("\n".join(lines))


_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,18})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain_text(value: str) -> str | None:
    """No control characters (a trailing newline included) and no surrounding blanks in any string."""
    if _CONTROL.search(value):
        return f"{value!r} holds a control character (a trailing newline?)"
    if value != value.strip():
        return f"{value!r} has leading or trailing blanks"
    return None


class _Reader:
    """Reads raw string values by key, converting and collecting problems instead of raising."""

    def __init__(self, values: Mapping[str, str], secret_keys: Collection[str]) -> None:
        self.values = values
        self.secret_keys = secret_keys
        self.problems: list[str] = []
        self.missing_secrets: list[str] = []
        self.kinds: dict[str, tuple[Kind, bool]] = {}

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{NAMESPACE}:{key}: {message}")

    def _raw(self, key: str, kind: Kind, *, secret: bool = False) -> str | None:
        self.kinds[key] = (kind, secret)
        return self.values.get(key)

    def string(self, key: str, *, optional: bool = False) -> str:
        value = self._raw(key, "string")
        if value is None or (value == "" and not optional):
            if not optional:
                self.problem(key, f"is required; set it with: pulumi config set {NAMESPACE}:{key} <value>")
            return ""
        self.check(key, _plain_text(value))
        return value

    def integer(self, key: str, *, minimum: int = 1, maximum: int = check.INT32_MAX) -> int:
        value = self._raw(key, "integer")
        if value is None:
            self.problem(key, f"is required; set it with: pulumi config set {NAMESPACE}:{key} <number>")
            return minimum
        # int() would also take " 3\n", "3_000", "+3" and non-ASCII digits.
        if not _INTEGER.fullmatch(value):
            self.problem(key, f"must be an integer, got {value!r}")
            return minimum
        number = int(value)
        if number < minimum:
            self.problem(key, f"must be at least {minimum}, got {number}")
        elif number > maximum:
            self.problem(key, f"must be at most {maximum}, got {number}")
        return number

    def boolean(self, key: str) -> bool:
        value = self._raw(key, "boolean")
        if value in ("true", "false"):
            return value == "true"
        self.problem(key, "is required (true or false)" if value is None else f"must be true or false, got {value!r}")
        return False

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._raw(key, "array")
        if value is None:
            self.problem(key, f"is required; set it with: pulumi config set --path '{NAMESPACE}:{key}[0]' <value>")
            return ()
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            self.problem(key, "must be a list of strings")
            return ()
        return tuple(items)

    def secret(self, key: str, *, required: bool = True, token: bool = False, file_content: bool = False) -> Secret:
        value = self._raw(key, "string", secret=True)
        if value and file_content:
            # `pulumi config set --secret ... < file` keeps the file's final newline; programs that read such
            # a file trim it (K3s: pkg/cluster/storage.go, readTokenFromFile: bytes.TrimRight(b, "\n")).
            value = value.rstrip("\r\n")
        if not value:
            if required:
                self.missing_secrets.append(key)
            return Secret(key, "")
        if _CONTROL.search(value):
            self.problem(key, "holds a control character (a trailing newline?); the value is not shown")
        elif token:
            # API tokens and keys travel in HTTP headers: a blank inside is always a paste error.
            self.check(key, check.token(value))
        if key not in self.secret_keys:
            self.problem(
                key, f"is stored in plaintext; re-set it with: pulumi config set --secret {NAMESPACE}:{key} <value>"
            )
        return Secret(key, value)

    def one_of(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.string(key)
        if value and value not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def check(self, key: str, problem: str | None) -> None:
        if problem:
            self.problem(key, problem)

    def unknown_keys(self) -> None:
        for key in sorted(set(self.values) - set(self.kinds)):
            self.problem(key, "is not a key this program reads (typo?); see the README's configuration reference")


def load_stack_config(values: Mapping[str, str], *, secret_keys: Collection[str], stack: str) -> StackConfig:
    """Reads and validates every key; `values` are raw strings by key without the namespace prefix."""
    r = _Reader(values, secret_keys)
    config = _read_all(r, stack)
    r.unknown_keys()
    if r.problems or r.missing_secrets:
        raise ConfigError(r.problems, r.missing_secrets)
    return config


def key_kinds() -> dict[str, tuple[Kind, bool]]:
    """Every key the program reads, with its kind and whether it is a secret (for the schema test)."""
    r = _Reader({}, ())
    _read_all(r, "")
    return r.kinds


def _read_all(r: _Reader, stack: str) -> StackConfig:
    config = StackConfig(
        stack=stack,
        credentials=Credentials(
            hcloud_token=r.secret("hcloudToken", token=True),
            cloudflare_api_token=r.secret("cloudflareApiToken", token=True),
        ),
        nodes=_read_nodes(r),
        k3s=_read_k3s(r),
        apps=_read_apps(r),
        services=_read_services(r),
        edge=_read_edge(r),
        maintenance=_read_maintenance(r),
        adopt=_read_adopt(r),
    )
    _check_networks(r, config)
    _check_hostnames(r, config)
    return config


def _read_nodes(r: _Reader) -> NodesConfig:
    location = r.one_of("location", tuple(check.HETZNER_LOCATIONS))
    network_zone = r.one_of("networkZone", tuple(sorted(set(check.HETZNER_LOCATIONS.values()))))
    if location in check.HETZNER_LOCATIONS and network_zone and check.HETZNER_LOCATIONS[location] != network_zone:
        r.problem("networkZone", f"location {location} is in {check.HETZNER_LOCATIONS[location]}, not {network_zone}")
    server_type = r.string("serverType")
    if server_type and not check.SERVER_TYPE.fullmatch(server_type):
        r.problem("serverType", f"{server_type!r} is not a Hetzner server type (e.g. cx33, cpx31, cax21)")
    server_image = r.string("serverImage")
    if server_image and not check.IMAGE_NAME.fullmatch(server_image):
        r.problem("serverImage", f"{server_image!r} is not a Hetzner image name (e.g. ubuntu-24.04)")
    server_count = r.integer("serverCount")
    if server_count % 2 == 0:
        r.problem("serverCount", f"must be odd so embedded etcd keeps quorum (1, 3, 5 …), got {server_count}")
    elif server_count > check.MAX_SERVERS:
        r.problem(
            "serverCount",
            f"must be at most {check.MAX_SERVERS}: the servers share one Hetzner spread placement group, "
            f"which holds at most {check.SPREAD_GROUP_SIZE} servers; got {server_count}",
        )
    agent_count = r.integer("agentCount", minimum=0, maximum=check.MAX_AGENTS)
    agent_server_type = r.string("agentServerType")
    if agent_server_type and not check.SERVER_TYPE.fullmatch(agent_server_type):
        r.problem("agentServerType", f"{agent_server_type!r} is not a Hetzner server type (e.g. cx33, cpx31, cax21)")
    ssh_keys = r.strings("sshPublicKeys")
    if not ssh_keys and r.values.get("sshPublicKeys") is not None:
        r.problem("sshPublicKeys", "must hold at least one operator key")
    _check_ssh_keys(r, ssh_keys)
    admin_cidrs = r.strings("adminCidrs")
    if not admin_cidrs and r.values.get("adminCidrs") is not None:
        r.problem("adminCidrs", "must hold at least one network, or nobody can reach SSH and the API")
    deployer_cidrs = r.strings("deployerCidrs")
    _check_sources(r, {"adminCidrs": admin_cidrs, "deployerCidrs": deployer_cidrs})
    return NodesConfig(
        location=location,
        network_zone=network_zone,
        server_type=server_type,
        server_image=server_image,
        server_count=server_count,
        agent_count=agent_count,
        agent_server_type=agent_server_type,
        ssh_public_keys=ssh_keys,
        admin_cidrs=admin_cidrs,
        deployer_cidrs=deployer_cidrs,
        private_network_cidr=r.string("privateNetworkCidr"),
        private_subnet_cidr=r.string("privateSubnetCidr"),
        hcloud_firewall=r.boolean("hcloudFirewall"),
        origin_lockdown=r.boolean("originLockdown"),
        protect=r.boolean("protectServers"),
        adopted_host_keys=_read_host_keys(r),
    )


def _check_ssh_keys(r: _Reader, keys: tuple[str, ...]) -> None:
    """One parsed key per entry; the same key body twice would make two resources with one name."""
    seen: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        body = check.ssh_key_body(key)
        if isinstance(body, str):
            r.problem(f"sshPublicKeys[{i}]", body)
        elif body[1] in seen:
            first = seen[body[1]]
            r.problem(f"sshPublicKeys[{i}]", f"is the same key as sshPublicKeys[{first}] (at most the comment differs)")
        else:
            seen[body[1]] = i


def _check_sources(r: _Reader, lists: dict[str, tuple[str, ...]]) -> None:
    """Networks allowed to SSH/the API: valid, routable, never wider than the configured limit."""
    limits = {
        4: r.integer("sourceMinPrefixV4", minimum=8, maximum=32),
        6: r.integer("sourceMinPrefixV6", minimum=16, maximum=128),
    }
    broad = r.strings("broadSourceCidrs")
    listed = {cidr for cidrs in lists.values() for cidr in cidrs}
    for i, cidr in enumerate(broad):
        if cidr not in listed:
            r.problem(f"broadSourceCidrs[{i}]", f"{cidr!r} is in neither adminCidrs nor deployerCidrs")
    for key, cidrs in lists.items():
        for i, cidr in enumerate(cidrs):
            r.check(f"{key}[{i}]", networks.source_network(cidr, limits, frozenset(broad)))


def _read_host_keys(r: _Reader) -> dict[str, str]:
    """`<server name>=<type> <base64>` entries (ssh-keyscan's last two fields); components.adoption checks the names."""
    keys: dict[str, str] = {}
    for i, entry in enumerate(r.strings("adoptedHostKeys")):
        name, sep, key = (part.strip() for part in entry.partition("="))
        problem = check.ssh_public_key(key) if sep and name and key else None
        if not sep or not name or not key:
            r.problem(f"adoptedHostKeys[{i}]", f"{entry[:60]!r} is not of the form <server name>=<type> <base64>")
        elif problem:
            r.problem(f"adoptedHostKeys[{i}]", f"{name}: {problem}")
        elif name in keys:
            r.problem(f"adoptedHostKeys[{i}]", f"{name} is listed twice")
        else:
            # Type and body only: a comment (or ssh-keyscan's host column) is not part of the pinned key.
            keys[name] = " ".join(key.split()[:2])
    return keys


def _read_k3s(r: _Reader) -> K3sConfig:
    version = r.string("k3sVersion")
    if version:
        r.check("k3sVersion", check.k3s_version(version))
    api_dns_name = r.string("apiDnsName", optional=True) or None
    schedule = r.string("etcdSnapshotSchedule")
    if schedule:
        r.check("etcdSnapshotSchedule", check.cron_schedule(schedule))
    return K3sConfig(
        version=version,
        cluster_cidr=r.string("clusterCidr"),
        service_cidr=r.string("serviceCidr"),
        kube_proxy_mode=cast(KubeProxyMode, r.one_of("kubeProxyMode", check.KUBE_PROXY_MODES)),
        flannel_backend=cast(FlannelBackend, r.one_of("flannelBackend", check.FLANNEL_BACKENDS)),
        api_dns_name=api_dns_name,
        etcd_snapshot_schedule=schedule,
        etcd_snapshot_retention=r.integer("etcdSnapshotRetention"),
        etcd_s3=_read_etcd_s3(r),
        token=_read_k3s_token(r),
    )


def _read_k3s_token(r: _Reader) -> Secret | None:
    """The running cluster's token, or None: the stack then generates one (components/k3s/token.py)."""
    token = r.secret("k3sToken", required=False, token=True, file_content=True)
    return token if token.value else None


def _read_etcd_s3(r: _Reader) -> EtcdS3Config | None:
    bucket = r.string("etcdS3Bucket", optional=True)
    folder = r.string("etcdS3Folder", optional=True)
    endpoint = r.string("etcdS3Endpoint", optional=True)
    region = r.string("etcdS3Region", optional=True)
    access_key = r.secret("etcdS3AccessKey", required=bool(bucket), token=True)
    secret_key = r.secret("etcdS3SecretKey", required=bool(bucket), token=True)
    retention = r.integer("etcdS3Retention")
    if not bucket:
        return None
    if not endpoint:
        r.problem("etcdS3Endpoint", "is required when etcdS3Bucket is set")
    else:
        r.check("etcdS3Endpoint", check.s3_endpoint_host(endpoint))
    if not region:
        r.problem("etcdS3Region", "is required when etcdS3Bucket is set")
    _check_bucket(r, ("etcdS3Bucket", bucket), ("etcdS3Region", region), ("etcdS3Endpoint", endpoint))
    if folder:
        r.check("etcdS3Folder", check.s3_folder(folder))
    return EtcdS3Config(
        bucket=bucket,
        folder=folder,
        endpoint=endpoint,
        region=region,
        access_key=access_key,
        secret_key=secret_key,
        retention=retention,
    )


def _check_bucket(r: _Reader, bucket: tuple[str, str], region: tuple[str, str], endpoint: tuple[str, str]) -> None:
    """Bucket and region names; a Backblaze endpoint names its region (s3.<region>.backblazeb2.com)."""
    if bucket[1]:
        r.check(bucket[0], check.bucket_name(bucket[1]))
    if region[1]:
        r.check(region[0], check.region_name(region[1]))
    host = endpoint[1]
    if region[1] and host.endswith(".backblazeb2.com") and host != f"s3.{region[1]}.backblazeb2.com":
        r.problem(region[0], f"{region[1]} is not the region of {endpoint[0]} {host}")


def _read_apps(r: _Reader) -> AppsConfig:
    images = {key: r.string(key) for key in ("apiImage", "adminImage", "workerImage", "redisImage")}
    for key, image in images.items():
        if image:
            r.check(key, check.image_reference(image))
    storage = r.string("redisStorageSize")
    if storage and not check.QUANTITY.fullmatch(storage):
        r.problem("redisStorageSize", f"{storage!r} is not a size like 5Gi (Mi, Gi or Ti)")
    namespace = r.string("appNamespace")
    if namespace and not check.DNS_LABEL.fullmatch(namespace):
        r.problem("appNamespace", f"{namespace!r} is not a valid Kubernetes namespace name")
    elif namespace.startswith("kube-"):
        r.problem("appNamespace", f"{namespace!r} is a namespace reserved for Kubernetes itself")
    username = r.string("registryUsername")
    if username:
        r.check("registryUsername", check.registry_user(username))
    registry = r.string("imageRegistry")
    if registry:
        r.check("imageRegistry", check.dns_name(registry))
    return AppsConfig(
        namespace=namespace,
        domain=r.string("domain"),
        api_hostname=r.string("apiHostname"),
        admin_hostname=r.string("adminHostname"),
        api_image=images["apiImage"],
        admin_image=images["adminImage"],
        worker_image=images["workerImage"],
        redis_image=images["redisImage"],
        api_replicas=r.integer("apiReplicas", maximum=check.MAX_REPLICAS),
        admin_replicas=r.integer("adminReplicas", maximum=check.MAX_REPLICAS),
        api_startup_failure_threshold=r.integer("apiStartupFailureThreshold"),
        admin_startup_failure_threshold=r.integer("adminStartupFailureThreshold"),
        redis_storage_size=storage,
        image_registry=registry,
        registry_username=username,
        registry_password=r.secret("registryPassword", token=True),
    )


def _read_services(r: _Reader) -> ServicesConfig:
    database_url = r.secret("databaseUrl")
    if database_url.value:
        r.check("databaseUrl", check.neon_pooler_url(database_url.value))
    b2_endpoint = r.string("b2Endpoint")
    if b2_endpoint:
        r.check("b2Endpoint", check.s3_endpoint_host(b2_endpoint))
    smtp_host = r.string("smtpHost")
    if smtp_host:
        r.check("smtpHost", check.dns_name(smtp_host))
    smtp_port = r.integer("smtpPort", maximum=65535)
    b2_bucket, b2_region = r.string("b2Bucket"), r.string("b2Region")
    _check_bucket(r, ("b2Bucket", b2_bucket), ("b2Region", b2_region), ("b2Endpoint", b2_endpoint))
    app_secret_key = r.secret("appSecretKey")
    if app_secret_key.value and len(app_secret_key.value) < 32:
        r.problem("appSecretKey", "must be at least 32 characters long")
    return ServicesConfig(
        database_url=database_url,
        b2_bucket=b2_bucket,
        b2_endpoint=b2_endpoint,
        b2_region=b2_region,
        b2_key_id=r.secret("b2KeyId", token=True),
        b2_application_key=r.secret("b2ApplicationKey", token=True),
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_username=r.secret("smtpUsername"),
        smtp_password=r.secret("smtpPassword"),
        app_secret_key=app_secret_key,
    )


def _read_edge(r: _Reader) -> EdgeConfig:
    validity = r.integer("originCertValidityDays")
    if validity not in check.ORIGIN_CERT_VALIDITIES:
        allowed = ", ".join(str(v) for v in check.ORIGIN_CERT_VALIDITIES)
        r.problem("originCertValidityDays", f"must be one of {allowed} (Cloudflare Origin CA), got {validity}")
    zone_id = r.string("cloudflareZoneId", optional=True) or None
    if zone_id:
        r.check("cloudflareZoneId", check.zone_id(zone_id))
    return EdgeConfig(
        zone_id=zone_id,
        ssl_mode=cast(SslMode, r.one_of("sslMode", check.SSL_MODES)),
        origin_cert_validity_days=validity,
    )


def _read_maintenance(r: _Reader) -> MaintenanceConfig:
    schedule = r.string("redisBackupSchedule")
    if schedule:
        r.check("redisBackupSchedule", check.cron_schedule(schedule))
    folder = r.string("redisBackupFolder")
    if folder and not check.BUCKET_FOLDER.fullmatch(folder):
        r.problem("redisBackupFolder", f"{folder!r} must be letters, digits, '-', '_' or '/' (no leading '/')")
    days = r.strings("rebootDays")
    if not days or set(days) - set(check.WEEKDAYS):
        r.problem("rebootDays", f"must be a non-empty list of {', '.join(check.WEEKDAYS)}; got {list(days)}")
    times = {key: r.string(key) for key in ("rebootStartTime", "rebootEndTime")}
    for key, value in times.items():
        if value and not check.CLOCK_TIME.fullmatch(value):
            r.problem(key, f"{value!r} is not a time like 02:00 (24-hour HH:MM)")
    zone = r.string("rebootTimeZone")
    if zone:
        r.check("rebootTimeZone", check.time_zone(zone))
    return MaintenanceConfig(
        csi_token=r.secret("hcloudCsiToken"),
        redis_backup_schedule=schedule,
        redis_backup_folder=folder,
        reboot_days=days,
        reboot_start=times["rebootStartTime"],
        reboot_end=times["rebootEndTime"],
        reboot_time_zone=zone,
    )


def _read_adopt(r: _Reader) -> dict[str, str]:
    """`<resource name>=<provider id>` entries; which names exist is checked by components.adoption."""
    adopt: dict[str, str] = {}
    for i, entry in enumerate(r.strings("adoptIds")):
        name, sep, import_id = (part.strip() for part in entry.partition("="))
        if not sep or not name or not import_id:
            r.problem(f"adoptIds[{i}]", f"{entry!r} is not of the form <resource name>=<provider id>")
        elif name in adopt:
            r.problem(f"adoptIds[{i}]", f"{name} is listed twice")
        else:
            adopt[name] = import_id
    return adopt


def _check_networks(r: _Reader, config: StackConfig) -> None:
    """Cluster networks parse, are IPv4 and don't overlap; the node subnet fits the nodes."""
    named = {
        "privateNetworkCidr": config.nodes.private_network_cidr,
        "clusterCidr": config.k3s.cluster_cidr,
        "serviceCidr": config.k3s.service_cidr,
    }
    nets = {key: net for key, value in named.items() if value and (net := _ipv4_network(r, key, value))}
    keys = list(nets)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            if nets[a].overlaps(nets[b]):
                r.problem(b, f"{nets[b]} overlaps {a} {nets[a]}")
    # The firewall trusts these as sources of etcd, kubelet, VXLAN and pod traffic: never public space.
    for key, net in nets.items():
        r.check(key, networks.private_ipv4(net))
    network = nets.get("privateNetworkCidr")
    subnet_value = config.nodes.private_subnet_cidr
    agents = config.nodes.agent_count
    subnet = _ipv4_network(r, "privateSubnetCidr", subnet_value) if subnet_value else None
    if subnet is None or network is None:
        return
    if not subnet.subnet_of(network):
        r.problem("privateSubnetCidr", f"{subnet_value} is not inside privateNetworkCidr {network}")
    # Hetzner keeps the subnet's first address for its gateway; nodes start at .2.
    elif subnet.num_addresses - 3 < (last := check.last_node_offset(config.nodes.server_count, agents)):
        wanted = f"{config.nodes.server_count} servers"
        if agents:
            first, final = (subnet.network_address + 1 + offset for offset in (check.agent_offset(1), last))
            wanted += f" and {agents} agents (agents start at {first}; the last one needs {final})"
        r.problem("privateSubnetCidr", f"{subnet_value} has no room for {wanted}")


def _ipv4_network(r: _Reader, key: str, value: str) -> ipaddress.IPv4Network | None:
    net, problem = networks.parse_network(value)
    r.check(key, problem)
    if isinstance(net, ipaddress.IPv6Network):
        r.problem(key, f"{value} must be IPv4 (the cluster is single-stack IPv4 inside)")
        return None
    return net


def _check_hostnames(r: _Reader, config: StackConfig) -> None:
    domain = config.apps.domain
    if not domain:
        return
    problem = check.dns_name(domain)
    r.check("domain", problem)
    if problem:
        return
    hostnames = {"apiHostname": config.apps.api_hostname, "adminHostname": config.apps.admin_hostname}
    if config.k3s.api_dns_name:
        hostnames["apiDnsName"] = config.k3s.api_dns_name
    for key, hostname in hostnames.items():
        if hostname:
            r.check(key, check.hostname_under(hostname, domain))
    # Each name gets its own DNS record (and Traefik route): two keys on one name collide.
    taken = {domain: "domain (the apex)", f"www.{domain}": "the www name of domain"}
    for key, hostname in hostnames.items():
        if hostname in taken:
            r.problem(key, f"{hostname} is already {taken[hostname]}; every public name must be distinct")
        elif hostname:
            taken[hostname] = key


def load_from_pulumi() -> StackConfig:
    """Reads this program's namespace of the stack config the engine passed in."""
    values, secrets = namespace_config(NAMESPACE)
    return load_stack_config(values, secret_keys=secrets, stack=pulumi.get_stack())
