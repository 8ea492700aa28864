"""Honeydue production as one Pulumi stack: load config, build providers, create components, export."""

import pulumi

from components.apps import Apps, AppsArgs, OriginTls, apps_spec
from components.config import load_from_pulumi
from components.edge import (
    EdgeDns,
    EdgeDnsArgs,
    EdgeTls,
    EdgeTlsArgs,
    OriginCertificate,
    OriginCertificateArgs,
    cloudflare_zone_id,
)
from components.edge_ranges import cloudflare_edge_ranges
from components.firewall import NodeFirewall, NodeFirewallArgs, checked_rules, firewall_policy
from components.firewall_sync import FirewallSync, FirewallSyncArgs, FirewallTarget
from components.k3s import K3sCluster, K3sClusterArgs, K3sServer
from components.nodes import Nodes, NodesArgs
from components.outputs import export_outputs
from components.providers import make_providers
from components.traefik import Traefik, TraefikArgs

config = load_from_pulumi()
providers = make_providers(config.credentials)
edge_ranges = cloudflare_edge_ranges(providers.cloudflare)
labels = {"app": "honeydue", "stack": config.stack, "managed-by": "pulumi"}

# --- Hetzner: the firewall model, then the nodes it protects --------------------------------------
firewall = NodeFirewall(
    "honeydue-firewall",
    NodeFirewallArgs(
        rules=checked_rules(firewall_policy(config.nodes, config.k3s, edge_ranges.cidrs)),
        hcloud_firewall=config.nodes.hcloud_firewall,
        labels=labels,
    ),
    providers.options(),
)
nodes = Nodes(
    "honeydue",
    NodesArgs(
        config=config.nodes, firewall_script=firewall.ufw_script, firewall_ids=firewall.firewall_ids, labels=labels
    ),
    providers.options(),
)

# --- K3s over SSH; it yields the one Kubernetes provider ------------------------------------------
this_stack = pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
cluster = K3sCluster(
    "honeydue-k3s",
    K3sClusterArgs(
        config=config.k3s,
        servers=[K3sServer(node=node, connection=nodes.connection(node)) for node in nodes.nodes],
        previous_version=this_stack.get_output("k3sVersion"),
    ),
    providers.options(),
)
FirewallSync(
    "honeydue-firewall-sync",
    FirewallSyncArgs(
        ufw_script=firewall.ufw_script,
        ranges_etag=edge_ranges.etag,
        targets=[
            FirewallTarget(index=node.index, connection=nodes.connection(node), after=done)
            for node, done in zip(nodes.nodes, cluster.cloud_init_done, strict=True)
        ],
    ),
    providers.options(),
)

# --- Cloudflare SSL, Traefik and the apps, ordered so a change of SSL mode never drops traffic ----
zone_id = cloudflare_zone_id(providers.cloudflare, config.apps.domain, config.edge.zone_id)
serves_tls = config.edge.ssl_mode != "flexible"
origin = (
    OriginCertificate(
        "honeydue-origin",
        OriginCertificateArgs(domain=config.apps.domain, validity_days=config.edge.origin_cert_validity_days),
        providers.options(),
    )
    if serves_tls
    else None
)
tls_secret_name = "honeydue-origin-tls" if serves_tls else None
# Going to flexible: Cloudflare switches to HTTP first, then the origin stops serving its certificate.
edge_tls_first = None if serves_tls else EdgeTls("honeydue-edge-tls", EdgeTlsArgs(zone_id=zone_id, ssl_mode="flexible"),
                                                 providers.options())  # fmt: skip
k8s_after = [cluster.first_server_ready] + ([edge_tls_first.ssl_setting] if edge_tls_first else [])
k8s_options = pulumi.ResourceOptions(providers=[cluster.provider, providers.random])
traefik = Traefik(
    "honeydue-traefik",
    TraefikArgs(cloudflare_cidrs=edge_ranges.cidrs, tls_secret_name=tls_secret_name),
    pulumi.ResourceOptions.merge(k8s_options, pulumi.ResourceOptions(depends_on=k8s_after)),
)
apps = Apps(
    "honeydue-apps",
    AppsArgs(
        spec=apps_spec(
            config.apps,
            config.services,
            cluster_cidr=config.k3s.cluster_cidr,
            node_cidrs=(config.nodes.private_network_cidr,),
            tls_secret_name=tls_secret_name,
        ),
        apps=config.apps,
        services=config.services,
        origin_tls=OriginTls(certificate_pem=origin.certificate_pem, private_key_pem=origin.private_key_pem)
        if origin
        else None,
    ),
    pulumi.ResourceOptions.merge(k8s_options, pulumi.ResourceOptions(depends_on=k8s_after)),
)
# Going to full/strict: the origin serves the certificate first, then Cloudflare demands HTTPS.
if edge_tls_first is None:
    EdgeTls(
        "honeydue-edge-tls",
        EdgeTlsArgs(zone_id=zone_id, ssl_mode=config.edge.ssl_mode),
        pulumi.ResourceOptions.merge(
            providers.options(), pulumi.ResourceOptions(depends_on=[traefik.chart_config, *apps.tls_objects])
        ),
    )
dns = EdgeDns(
    "honeydue-dns",
    EdgeDnsArgs(
        zone_id=zone_id,
        domain=config.apps.domain,
        hostnames=(
            config.apps.domain,
            f"www.{config.apps.domain}",
            config.apps.api_hostname,
            config.apps.admin_hostname,
        ),
        servers=[(node.name, node.public_ipv4, node.public_ipv6) for node in nodes.nodes],
        api_dns_name=config.k3s.api_dns_name,
        api_addresses=[node.public_ipv4 for node in nodes.nodes],
    ),
    providers.options(),
)

export_outputs(config=config, nodes=nodes, cluster=cluster, apps=apps, zone_id=zone_id)
