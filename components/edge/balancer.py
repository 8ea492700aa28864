"""edgeOrigins loadBalancer: one Cloudflare Load Balancing pool of the servers, a monitor, one load balancer per
public hostname.

What records alone cannot do: a reboot (kured), a Traefik rollout (hostNetwork, one node at a time) or a crash
stops a node without any `up`, and on the Free plan Cloudflare keeps sending it its share of requests. A pool's
monitor takes a server that stops answering out of rotation, and until it has, zero-downtime failover retries a
request that met a 521/522/523/525/526 once on another healthy endpoint of the pool
(https://developers.cloudflare.com/load-balancing/understand-basics/adaptive-routing/). It needs the Load
Balancing add-on (a paid subscription, with an endpoint for each server).

The proxied DNS records stay: a load balancer takes precedence over DNS records of its own name
(https://developers.cloudflare.com/load-balancing/load-balancers/dns-records/, "Priority order"), and they are
served again if the load balancer is disabled or deleted, so switching `edgeOrigins` either way never leaves a
hostname without an answer. A released server (`replaceableNodes`) leaves the pool in the `up` that releases it,
as its records do; a server joins the pool only after its serving step (edge/serving.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.anatomy import child_options
from components.edge.dns import host_label

# Seconds between two checks of an endpoint from each checking data center: the API's default, and the shortest
# the add-on's base tier allows. Until a stopped node is marked down, zero-downtime failover retries its requests.
MONITOR_INTERVAL = 60
MONITOR_TIMEOUT = 5
MONITOR_RETRIES = 1


def monitor_settings(host: str) -> dict[str, Any]:
    """What the monitor asks each server: the landing page of the apex over HTTP on port 80, as the serving step
    does (scripts/edge/wait-serving.sh). Port 80 in every SSL mode: Traefik's web entrypoint always routes the
    public hostnames (components/k8s/manifests.py), and the node firewall admits Cloudflare's ranges there."""
    return {
        "type": "http",
        "method": "GET",
        "port": 80,
        "path": "/",
        "header": {"Host": [host]},
        "expected_codes": "2xx",
        # The landing page answers itself; a redirect would be followed to another origin, not this server.
        "follow_redirects": False,
        "interval": MONITOR_INTERVAL,
        "timeout": MONITOR_TIMEOUT,
        "retries": MONITOR_RETRIES,
    }


def pool_origins(servers: Sequence[tuple[str, pulumi.Input[str]]], withdrawn: frozenset[str]) -> list[dict[str, Any]]:
    """One endpoint per server that is not released, by its public IPv4 (what the A records hold)."""
    return [{"name": name, "address": ipv4, "enabled": True} for name, ipv4 in servers if name not in withdrawn]


@dataclass(frozen=True, kw_only=True)
class EdgeBalancerArgs:
    account_id: str
    """The Cloudflare account (pools and monitors are the account's)."""
    zone_id: pulumi.Input[str]
    """The zone of the hostnames."""
    pool_name: str
    """The pool's name in the account: letters, digits, '-' and '_' only."""
    domain: str
    """The zone's name; names each load balancer by its host label (apex, www, ...)."""
    hostnames: tuple[str, ...]
    """One load balancer each, proxied."""
    monitor_host: str
    """The Host header the monitor sends: the apex."""
    servers: Sequence[tuple[str, pulumi.Input[str]]]
    """(name, public IPv4) of every server."""
    withdrawn: frozenset[str] = frozenset()
    """Released servers (replaceableNodes): not in the pool."""
    serving: Mapping[str, Sequence[pulumi.Resource]]
    """Per server name, its serving step (and in full/strict its gate): the pool changes only after every listed
    server serves."""


class EdgeBalancer(pulumi.ComponentResource):
    """The monitor, the pool of the servers and a proxied load balancer per public hostname."""

    pool: cloudflare.LoadBalancerPool
    balancers: list[cloudflare.LoadBalancer]

    def __init__(self, name: str, args: EdgeBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:edge:EdgeBalancer", name, None, opts)
        origins = pool_origins(args.servers, args.withdrawn)
        if not origins:
            raise ValueError("every server is withdrawn: the pool would have no endpoint")
        monitor = cloudflare.LoadBalancerMonitor(
            f"{name}-monitor",
            account_id=args.account_id,
            description=f"{args.pool_name}: the landing page on each server",
            **monitor_settings(args.monitor_host),
            opts=child_options(self, opts),
        )
        serving = [step for server in origins for step in args.serving[server["name"]]]
        self.pool = cloudflare.LoadBalancerPool(
            f"{name}-pool",
            account_id=args.account_id,
            name=args.pool_name,
            origins=origins,
            monitor=monitor.id,
            # One healthy server keeps the pool serving: it is the only pool (there is nothing to fail over to).
            minimum_origins=1,
            opts=child_options(self, opts, depends_on=serving),
        )
        self.balancers = [
            cloudflare.LoadBalancer(
                f"{name}-{host_label(hostname, args.domain)}",
                zone_id=args.zone_id,
                name=hostname,
                default_pools=[self.pool.id],
                fallback_pool=self.pool.id,
                proxied=True,
                # One pool: "off" sends every request to it, and inside it Cloudflare picks a healthy endpoint.
                steering_policy="off",
                opts=child_options(self, opts),
            )
            for hostname in args.hostnames
        ]
        self.register_outputs({"pool": args.pool_name, "hostnames": list(args.hostnames)})
