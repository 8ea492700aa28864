"""Honeydue production as one Pulumi stack: load config, build providers, create components, export."""

import pulumi

from components import naming
from components.adoption import check_adoption, register_adoption
from components.config.load import load_from_pulumi
from components.edge.ranges import cloudflare_edge_ranges
from components.edge.zone import (
    EdgeDns,
    EdgeDnsArgs,
    EdgeTls,
    EdgeTlsArgs,
    OriginCertificate,
    OriginCertificateArgs,
    cloudflare_zone_id,
)
from components.firewall.component import NodeFirewall, NodeFirewallArgs, checked_rules, firewall_policy
from components.firewall.sync import FirewallSync, FirewallSyncArgs, FirewallTarget
from components.hetzner.nodes import Nodes, NodesArgs
from components.k3s.cluster import K3sAgent, K3sCluster, K3sClusterArgs, K3sServer
from components.k8s.apps import Apps, AppsArgs, OriginTls, apps_spec
from components.k8s.traefik import Traefik, TraefikArgs
from components.outputs import export_outputs
from components.providers import make_providers

config = load_from_pulumi()
check_adoption(config)
register_adoption(config.adopt)
providers = make_providers(config.credentials)
edge_ranges = cloudflare_edge_ranges(providers.cloudflare)
rules = checked_rules(firewall_policy(config.nodes, config.k3s, edge_ranges.cidrs))
labels = {"app": "honeydue", "stack": config.stack, "managed-by": "pulumi"}
cloud = providers.options()

# --- Hetzner: the firewall model, then the nodes it protects --------------------------------------
firewall = NodeFirewall(
    naming.FIREWALL, NodeFirewallArgs(rules=rules, hcloud_firewall=config.nodes.hcloud_firewall, labels=labels), cloud
)
nodes = Nodes(
    naming.NODES,
    NodesArgs(
        config=config.nodes, firewall_script=firewall.ufw_script, firewall_ids=firewall.firewall_ids, labels=labels
    ),
    cloud,
)

# --- K3s over SSH; it yields the one Kubernetes provider ------------------------------------------
this_stack = pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
cluster = K3sCluster(
    naming.K3S,
    K3sClusterArgs(
        config=config.k3s,
        servers=[K3sServer(node=node, connection=nodes.connection(node)) for node in nodes.nodes],
        agents=[K3sAgent(node=node, connection=nodes.connection(node)) for node in nodes.agents],
        previous_version=this_stack.get_output("k3sVersion"),
    ),
    cloud,
)
FirewallSync(
    naming.FIREWALL_SYNC,
    FirewallSyncArgs(
        ufw_script=firewall.ufw_script,
        ranges_etag=edge_ranges.etag,
        targets=[
            FirewallTarget(index=node.index, connection=nodes.connection(node), after=cloud_init)
            for node, cloud_init in zip(nodes.nodes, cluster.cloud_init_done, strict=True)
        ]
        + [
            FirewallTarget(pool="agent", index=node.index, connection=nodes.connection(node), after=cloud_init)
            for node, cloud_init in zip(nodes.agents, cluster.agent_cloud_init_done, strict=True)
        ],
    ),
    cloud,
)

# --- SSL mode, Traefik and the apps: ordered so that switching the mode never drops traffic -------
# To flexible: Cloudflare switches to HTTP first, then the origin changes. To full/strict: the origin
# serves the Origin CA certificate first, then Cloudflare demands HTTPS.
zone_id = cloudflare_zone_id(providers.cloudflare, config.apps.domain, config.edge.zone_id)
flexible = config.edge.ssl_mode == "flexible"
edge_tls_args = EdgeTlsArgs(zone_id=zone_id, ssl_mode=config.edge.ssl_mode)
edge_tls = EdgeTls(naming.EDGE_TLS, edge_tls_args, cloud) if flexible else None
origin = (
    None
    if flexible
    else OriginCertificate(
        naming.ORIGIN,
        OriginCertificateArgs(domain=config.apps.domain, validity_days=config.edge.origin_cert_validity_days),
        cloud,
    )
)
tls_secret_name = None if origin is None else "honeydue-origin-tls"
in_cluster = pulumi.ResourceOptions(
    providers=[cluster.provider, providers.random],
    depends_on=[cluster.first_server_ready] + ([edge_tls.ssl_setting] if edge_tls else []),
)
traefik = Traefik(
    naming.TRAEFIK, TraefikArgs(cloudflare_cidrs=edge_ranges.cidrs, tls_secret_name=tls_secret_name), in_cluster
)
apps = Apps(
    naming.APPS,
    AppsArgs(
        spec=apps_spec(
            config.apps,
            config.services,
            cluster_cidr=config.k3s.cluster_cidr,
            node_cidrs=(config.nodes.private_network_cidr,),
            tls_secret_name=tls_secret_name,
        ),
        origin_tls=None
        if origin is None
        else OriginTls(certificate_pem=origin.certificate_pem, private_key_pem=origin.private_key_pem),
    ),
    in_cluster,
)
if edge_tls is None:
    origin_serves = pulumi.ResourceOptions(depends_on=[traefik.chart_config, *apps.tls_objects])
    edge_tls = EdgeTls(naming.EDGE_TLS, edge_tls_args, pulumi.ResourceOptions.merge(cloud, origin_serves))

# DNS points at the servers only. Traefik runs on agents too (a DaemonSet), but the servers are the
# stable set: agents come and go with agentCount, and a scale-in would otherwise have to retract their
# records before the drain. Traefik on any server reaches pods on agents through the Service network.
EdgeDns(
    naming.DNS,
    EdgeDnsArgs(
        zone_id=zone_id,
        domain=config.apps.domain,
        hostnames=config.apps.public_hostnames,
        servers=[(node.name, node.public_ipv4, node.public_ipv6) for node in nodes.nodes],
        api_dns_name=config.k3s.api_dns_name,
        api_addresses=[node.public_ipv4 for node in nodes.nodes],
    ),
    cloud,
)

export_outputs(config=config, nodes=nodes, cluster=cluster, apps=apps, zone_id=zone_id)
