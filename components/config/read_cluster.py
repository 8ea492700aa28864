"""Reads the nodes and K3s sections of the stack config and checks the cluster networks."""

from __future__ import annotations

import ipaddress
import re
from typing import cast

from components import naming
from components.config import checks as check
from components.config import cron, networks
from components.config.model import (
    EtcdS3Config,
    FlannelBackend,
    K3sConfig,
    KubeProxyMode,
    NodesConfig,
    Secret,
    StackConfig,
)
from components.config.reader import Reader, check_bucket


def read_nodes(r: Reader) -> NodesConfig:
    location = r.one_of("location", tuple(check.HETZNER_LOCATIONS))
    network_zone = r.one_of("networkZone", tuple(sorted(set(check.HETZNER_LOCATIONS.values()))))
    if location in check.HETZNER_LOCATIONS and network_zone and check.HETZNER_LOCATIONS[location] != network_zone:
        r.problem("networkZone", f"location {location} is in {check.HETZNER_LOCATIONS[location]}, not {network_zone}")
    server_type = r.string("serverType")
    if server_type and not check.SERVER_TYPE.fullmatch(server_type):
        r.problem("serverType", f"{server_type!r} is not a Hetzner server type (e.g. cx33, cpx31, cax21)")
    server_image = r.string("serverImage")
    if server_image and not check.SERVER_IMAGE.fullmatch(server_image):
        r.problem("serverImage", f"{server_image!r} is not an Ubuntu LTS image from 24.04 on (e.g. ubuntu-24.04)")
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
    elif agent_count and server_type and check.is_arm(agent_server_type) != check.is_arm(server_type):
        # The images are built for one architecture; pods scheduled on the other one never start.
        r.problem(
            "agentServerType", f"{agent_server_type} and serverType {server_type} are of different CPU architectures"
        )
    ssh_keys = r.strings("sshPublicKeys")
    if not ssh_keys and r.values.get("sshPublicKeys") is not None and not r.has_problem("sshPublicKeys"):
        r.problem("sshPublicKeys", "must hold at least one operator key")
    _check_ssh_keys(r, ssh_keys)
    admin_cidrs = r.strings("adminCidrs")
    if not admin_cidrs and r.values.get("adminCidrs") is not None and not r.has_problem("adminCidrs"):
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
        replaceable=_read_replaceable(r, server_count),
        deploy_key_generation=r.integer("deployKeyGeneration", minimum=1, maximum=MAX_DEPLOY_KEY_GENERATION),
    )


MAX_DEPLOY_KEY_GENERATION = 999
REPLACEABLE = re.compile(rf"{naming.NODES}-(agent-)?([1-9][0-9]{{0,2}})", re.ASCII)


def _read_replaceable(r: Reader, server_count: int) -> frozenset[str]:
    """Nodes whose protection is lifted and whose leave step is armed, so a replacement or a scale-in of them
    can run. Nodes beyond the counts are allowed: they are the ones a scale-in removes. At most a minority
    of the servers at once: etcd keeps quorum while they leave."""
    names = r.strings("replaceableNodes")
    for i, name in enumerate(names):
        if not REPLACEABLE.fullmatch(name):
            r.problem(
                f"replaceableNodes[{i}]", f"{name!r} is not a node name ({naming.NODES}-N or {naming.NODES}-agent-N)"
            )
        elif name in names[:i]:
            r.problem(f"replaceableNodes[{i}]", f"{name} is listed twice")
    servers = [n for n in names if (m := REPLACEABLE.fullmatch(n)) and not m[1] and int(m[2]) <= server_count]
    if len(servers) > (server_count - 1) // 2:
        r.problem(
            "replaceableNodes",
            f"names {len(servers)} of the {server_count} servers ({', '.join(servers)}): at most "
            f"{(server_count - 1) // 2} may leave etcd at once and keep quorum; replace them one after the other",
        )
    return frozenset(names)


def _check_ssh_keys(r: Reader, keys: tuple[str, ...]) -> None:
    """One parsed key per entry; the same key body twice would make two resources with one name."""
    seen: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        body = check.ssh_key_body(key)
        if isinstance(body, str):
            r.problem(f"sshPublicKeys[{i}]", body)
        elif body[0] == "ssh-rsa" and (bits := check.rsa_bits(body[1])) < check.MIN_RSA_BITS:
            r.problem(
                f"sshPublicKeys[{i}]", f"is an RSA key of {bits} bits; use ed25519 or RSA of {check.MIN_RSA_BITS}+"
            )
        elif body[1] in seen:
            first = seen[body[1]]
            r.problem(f"sshPublicKeys[{i}]", f"is the same key as sshPublicKeys[{first}] (at most the comment differs)")
        else:
            seen[body[1]] = i


def _check_sources(r: Reader, lists: dict[str, tuple[str, ...]]) -> None:
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


def _read_host_keys(r: Reader) -> dict[str, str]:
    """`<server name>=<type> <base64>` entries (ssh-keyscan's last two fields); components.adoption checks the names."""
    keys: dict[str, str] = {}
    for i, entry in enumerate(r.strings("adoptedHostKeys")):
        name, sep, key = (part.strip() for part in entry.partition("="))
        problem = check.ssh_public_key(key) if sep and name and key else None
        if not sep or not name or not key:
            r.problem(f"adoptedHostKeys[{i}]", f"{entry[:60]!r} is not of the form <server name>=<type> <base64>")
        elif problem:
            r.problem(f"adoptedHostKeys[{i}]", f"{name}: {problem}")
        elif key.startswith("ssh-rsa ") and (bits := _rsa_bits(key)) < check.MIN_RSA_BITS:
            r.problem(f"adoptedHostKeys[{i}]", f"{name}: an RSA host key of {bits} bits; pin its ed25519 key instead")
        elif name in keys:
            r.problem(f"adoptedHostKeys[{i}]", f"{name} is listed twice")
        else:
            # Type and body only: a comment (or ssh-keyscan's host column) is not part of the pinned key.
            keys[name] = " ".join(key.split()[:2])
    return keys


def _rsa_bits(key: str) -> int:
    body = check.ssh_key_body(key)
    return check.rsa_bits(body[1]) if not isinstance(body, str) else 0


# Local etcd snapshots: kept at most this many (each a full copy of the database on the node's disk).
MAX_SNAPSHOT_RETENTION = 500
# And together they cover at least a day, so a mistake noticed the next morning can still be undone.
MIN_SNAPSHOT_HISTORY_MINUTES = 24 * 60


def read_k3s(r: Reader) -> K3sConfig:
    version = r.string("k3sVersion")
    if version:
        r.check("k3sVersion", check.k3s_version(version))
    api_dns_name = r.string("apiDnsName", optional=True) or None
    schedule = r.string("etcdSnapshotSchedule")
    if schedule:
        r.check("etcdSnapshotSchedule", cron.backup_schedule(schedule))
    retention = r.integer("etcdSnapshotRetention", maximum=MAX_SNAPSHOT_RETENTION)
    gaps = cron.fire_gaps(schedule) if schedule and not r.has_problem("etcdSnapshotSchedule") else None
    if gaps and retention * gaps[0] < MIN_SNAPSHOT_HISTORY_MINUTES and not r.has_problem("etcdSnapshotRetention"):
        hours = retention * gaps[0] // 60
        r.problem("etcdSnapshotRetention", f"{retention} snapshots of {schedule!r} keep only {hours} h; at least a day")
    return K3sConfig(
        version=version,
        cluster_cidr=r.string("clusterCidr"),
        service_cidr=r.string("serviceCidr"),
        kube_proxy_mode=_read_kube_proxy_mode(r, version),
        flannel_backend=cast(FlannelBackend, r.one_of("flannelBackend", check.FLANNEL_BACKENDS)),
        api_dns_name=api_dns_name,
        etcd_snapshot_schedule=schedule,
        etcd_snapshot_retention=retention,
        etcd_s3=_read_etcd_s3(r),
        token=_read_k3s_token(r),
    )


def _read_kube_proxy_mode(r: Reader, version: str) -> KubeProxyMode:
    """IPVS (production's mode) or iptables: the two the node firewall is proven under with K3s's own rules
    (tests/test_firewall_k3s.py). IPVS is deprecated from Kubernetes 1.35: leave it in an `up` of its own
    before that upgrade, so one `up` never changes the release and the data path together."""
    mode = r.one_of("kubeProxyMode", check.KUBE_PROXY_MODES)
    if mode == "nftables":
        r.problem("kubeProxyMode", "nftables is not proven under the node firewall yet (tests/test_firewall_k3s.py "
                  "models the ipvs and iptables rules); use iptables")  # fmt: skip
    release = check.kubernetes_release(version) if version and not r.has_problem("k3sVersion") else (0, 0)
    if mode == "ipvs" and release >= check.IPVS_DEPRECATED:
        since = ".".join(map(str, check.IPVS_DEPRECATED))
        r.problem(
            "kubeProxyMode",
            f"ipvs is deprecated from Kubernetes {since} (k3sVersion {version}); switch it to iptables in an `up` "
            "of its own before the upgrade (docs/runbook.md, Upgrade K3s)",
        )
    return cast(KubeProxyMode, mode)


def _read_k3s_token(r: Reader) -> Secret | None:
    """The running cluster's token, or None: the stack then generates one (components/k3s/token.py)."""
    token = r.secret("k3sToken", required=False, token=True, file_content=True)
    return token if token.value else None


def _read_etcd_s3(r: Reader) -> EtcdS3Config | None:
    bucket = r.string("etcdS3Bucket", optional=True)
    folder = r.string("etcdS3Folder", optional=True)
    endpoint = r.string("etcdS3Endpoint", optional=True)
    region = r.string("etcdS3Region", optional=True)
    access_key = r.secret("etcdS3AccessKey", required=bool(bucket), token=True)
    secret_key = r.secret("etcdS3SecretKey", required=bool(bucket), token=True)
    retention = r.integer("etcdS3Retention", maximum=MAX_SNAPSHOT_RETENTION)
    if not bucket:
        orphans = [key for key, value in (("etcdS3Endpoint", endpoint), ("etcdS3Region", region)) if value]
        if orphans:  # one problem for one mistake (an emptied bucket), naming the keys it leaves behind
            keys = " and ".join(orphans) + (" are" if len(orphans) > 1 else " is")
            r.problem("etcdS3Bucket", f"is empty while {keys} set: off-site etcd snapshots are off; set the "
                      "bucket, or unset the rest")  # fmt: skip
        return None
    if not folder:
        r.problem("etcdS3Folder", "is required when etcdS3Bucket is set (Redis backups share the bucket)")
    if not endpoint:
        r.problem("etcdS3Endpoint", "is required when etcdS3Bucket is set")
    if not region:
        r.problem("etcdS3Region", "is required when etcdS3Bucket is set")
    check_bucket(r, ("etcdS3Bucket", bucket), ("etcdS3Region", region), ("etcdS3Endpoint", endpoint))
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


def check_networks(r: Reader, config: StackConfig) -> None:
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
    _check_sizes(r, nets)
    _check_source_reach(r, config, [*nets.values(), networks.CGNAT])
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


def _check_sizes(r: Reader, nets: dict[str, ipaddress.IPv4Network]) -> None:
    """K3s gives every node a /24 of the pod network (node-cidr-mask-size), every Service an address of its own."""
    cluster, services = nets.get("clusterCidr"), nets.get("serviceCidr")
    most_nodes = check.MAX_SERVERS + check.MAX_AGENTS
    if cluster is not None and (cluster.prefixlen > 24 or 2 ** (24 - cluster.prefixlen) < most_nodes):
        r.problem("clusterCidr", f"{cluster} is too small: K3s gives each node a /24, and {most_nodes} nodes may join")
    if services is not None and services.prefixlen > 24:
        r.problem("serviceCidr", f"{services} is too small for the cluster's Services (at least a /24)")


def _check_source_reach(r: Reader, config: StackConfig, internal: list[ipaddress.IPv4Network]) -> None:
    """Operator sources: never the cluster's own networks or CGNAT (whoever sits there would be an admin), and
    never, taken together, the whole internet (even when each entry is listed in broadSourceCidrs)."""
    sources: list[networks.IpNetwork] = []
    for key, values in (("adminCidrs", config.nodes.admin_cidrs), ("deployerCidrs", config.nodes.deployer_cidrs)):
        for i, value in enumerate(values):
            net, _ = networks.parse_network(value)
            if net is None:
                continue
            sources.append(net)
            hit = next((n for n in internal if net.version == n.version and net.overlaps(n)), None)
            if hit is not None:
                r.problem(f"{key}[{i}]", f"{value} overlaps {hit}, a network inside or shared by the cluster")
    r.check("adminCidrs", networks.covers_the_internet(sources))


def _ipv4_network(r: Reader, key: str, value: str) -> ipaddress.IPv4Network | None:
    net, problem = networks.parse_network(value)
    r.check(key, problem)
    if isinstance(net, ipaddress.IPv6Network):
        r.problem(key, f"{value} must be IPv4 (the cluster is single-stack IPv4 inside)")
        return None
    return net
