"""The HelmChartConfig that turns K3s's bundled Traefik into a hostNetwork DaemonSet behind Cloudflare.

Pure data, no Pulumi. K3s installs Traefik from its own HelmChart `traefik` in kube-system; a
HelmChartConfig of the same name and namespace adds `valuesContent` on top of K3s's values. The keys
are those of the Traefik chart K3s 1.34 bundles (chart v3x, Traefik v3), checked against the chart's
values.yaml: `ports.<name>.expose` is a map of Service names (`{default: bool}`), not a bool, and the
pod's DNS policy is `deployment.dnsPolicy` (applied by the chart's pod template as-is).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from components.k8s.client_ip import ENTRYPOINT_MIDDLEWARES, trusted_networks
from components.yaml_text import dump_quoted

TRAEFIK_NAMESPACE = "kube-system"
TRAEFIK_UID = 65532
"""The uid of the Traefik chart's own default securityContext (non-root, like the apps' APP_UID)."""
_HOSTNAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.ASCII)


def ingress_endpoint_values(hostname: str) -> dict[str, Any]:
    """Make Traefik publish `hostname` as every Ingress's load-balancer status, so Ingresses become ready.

    pulumi-kubernetes awaits an Ingress until `status.loadBalancer.ingress` is non-empty and fails after
    10 minutes otherwise (provider/pkg/await/ingress.go; pulumi-kubernetes #268, #1812). Traefik writes
    that status in `updateIngressStatus` (traefik pkg/provider/kubernetes/ingress/kubernetes.go): with
    `ingressEndpoint.publishedService` set, which K3s's own values turn on (`publishedService.enabled`,
    k3s manifests/traefik.yaml), it copies the published Service's status, and our Service is ClusterIP
    without externalIPs (hostNetwork, servicelb off), so nothing is ever written. Only without a
    published service does Traefik write `ingressEndpoint.hostname`/`ip` directly, hence both settings.

    Chosen over `pulumi.com/skipAwait`: the status then still means "Traefik has processed this Ingress",
    and Pulumi's await keeps checking the backends' endpoints; skipAwait would drop both and need a
    readiness check of our own. A hostname, not an IP: `ingressEndpoint.ip` holds a single address while
    every node serves 80/443; the proxied public name is where the routes really are.

    Passed as `additionalArguments`, not as the chart's `providers.kubernetesIngress.ingressEndpoint`:
    that key only exists from traefik-helm-chart v40.0.0 (commit 88005b0c), and the chart's values
    schema has `additionalProperties: false` there since v39, so on K3s releases bundling an older chart
    (v1.34.6 among them) the key would make the helm install fail. The flag works with every v3 chart.
    """
    return {
        "providers": {"kubernetesIngress": {"publishedService": {"enabled": False}}},
        "additionalArguments": [f"--providers.kubernetesingress.ingressendpoint.hostname={hostname}"],
    }


CLIENT_AUTH_TYPES = {False: "RequestClientCert", True: "RequireAndVerifyClientCert"}
"""What the default TLSOption demands of every HTTPS client with Authenticated Origin Pulls, by phase
(originPullsRequired). Phase 1 asks for a certificate and accepts any or none, verifying nothing: until our upload is
active (or with global Authenticated Origin Pulls on) an edge may present Cloudflare's shared certificate, which
VerifyClientCertIfGiven would refuse in the handshake (525 for every visitor). The access log's TLSClientSubject
still shows what was presented (pkg/middlewares/accesslog/logger.go, from req.TLS.PeerCertificates). Phase 2 refuses
a client without a certificate of our CA (traefik v3.6.10 pkg/tls/tlsmanager.go buildTLSConfig: tls.RequestClientCert,
tls.RequireAndVerifyClientCert)."""


def client_auth_values(ca_secret_name: str, *, required: bool) -> dict[str, Any]:
    """The chart's `tlsOptions`: Traefik's `default` TLSOption (every router without options of its own) asks every
    client for a certificate; with `required` it verifies it against the CA in `ca_secret_name` and refuses a client
    without one. Phase 1 names the same Secret, so phase 2 changes the type only.

    The chart renders each entry as a TLSOption in Traefik's namespace (templates/tlsoption.yaml of traefik-helm-chart
    v39.0.5, the chart K3s v1.34.6 bundles: traefik-39.0.501+up39.0.5, k3s manifests/traefik.yaml); Traefik reads
    `clientAuth.secretNames` from that namespace, key `tls.ca` or `ca.crt` (traefik v3.6.10
    pkg/provider/kubernetes/crd/kubernetes.go buildTLSOptions, getCABlocks), and a TLSOption named `default` replaces
    the default options (tls.DefaultTLSConfigName). A missing Secret fails closed in phase 2: RequireAndVerifyClientCert
    without a CA is refused when the TLS config is built (pkg/tls/tlsmanager.go buildTLSConfig, "CAFiles is
    required"); RequestClientCert needs no CA and verifies nothing either way.
    """
    return {"default": {"clientAuth": {"secretNames": [ca_secret_name], "clientAuthType": CLIENT_AUTH_TYPES[required]}}}


ACCESS_LOG_FIELDS = ("StartUTC", "RouterName", "RequestHost", "RequestPath", "DownstreamStatus", "TLSVersion",
                     "TLSClientSubject")  # fmt: skip
"""The access-log fields kept: enough to tell which request carried which client certificate, no client address."""


def access_log_values() -> dict[str, Any]:
    """Traefik's access log on, in JSON, for the routers that ask for it only (the origin-pull probe route,
    components/k8s/manifests.py): the entrypoints turn it off for every other router.

    Why: between the two phases of Authenticated Origin Pulls the operator must see that Cloudflare presents our
    client certificate, and the access log's `TLSClientSubject` is the subject of the certificate a request came
    with (traefik v3.6.10 pkg/middlewares/accesslog/logger.go L238-L240, logdata.go L78-L79). A router's own
    `observability.accessLogs` wins over its entrypoint's (pkg/server/aggregator.go L221-L227; the chart renders
    `ports.<name>.observability.accessLogs` as --entryPoints.<name>.observability.accessLogs, _podtemplate.tpl
    L211-L214). The same in every SSL mode: these are pod arguments, so a change would roll Traefik on every node.
    """
    return {
        "access": {
            "enabled": True,
            "format": "json",
            "fields": {
                "general": {"defaultmode": "drop", "names": dict.fromkeys(ACCESS_LOG_FIELDS, "keep")},
                "headers": {"defaultmode": "drop"},
            },
        }
    }


def _public_entrypoint(port: int, trusted: list[str]) -> dict[str, Any]:
    """One of the two entrypoints Cloudflare reaches (see the comments in `traefik_values`). Fresh lists each
    time: the YAML dump then carries no anchors."""
    return {
        "port": port,
        "asDefault": True,
        "forwardedHeaders": {"trustedIPs": list(trusted), "insecure": False},
        "http": {"middlewares": list(ENTRYPOINT_MIDDLEWARES)},
        # No access log but for the routers that ask for one (`access_log_values`).
        "observability": {"accessLogs": False},
    }


def traefik_values(
    cloudflare_cidrs: Sequence[str],
    tls_secret_name: str | None,
    *,
    ingress_hostname: str,
    client_ca_secret: str | None = None,
    client_auth_required: bool = False,
) -> dict[str, Any]:
    """Helm values of the bundled Traefik.

    `ingress_hostname` is what Traefik writes into every Ingress's `status.loadBalancer` (see
    `ingress_endpoint_values`).

    `tls_secret_name` (full/strict SSL) becomes the default certificate of Traefik's default TLS store.
    That TLSStore lives in Traefik's namespace and can only reference a Secret there: the Secret named
    `tls_secret_name` must exist in kube-system (the component creates it there as well as in the apps'
    namespace, which the Ingress's tls block reads).

    `client_ca_secret` (full/strict SSL, Authenticated Origin Pulls) makes Traefik verify HTTPS clients' certificates
    against the CA in that kube-system Secret, and `client_auth_required` makes every client present one
    (`client_auth_values`).
    """
    if not _HOSTNAME.fullmatch(ingress_hostname):
        raise ValueError(f"ingress endpoint {ingress_hostname!r} is not a DNS name")
    # A malformed range would stop Traefik at startup on every node. Sorted and without repeats: the values
    # are the HelmChartConfig's, so a reordered list from Cloudflare would otherwise roll Traefik on every node.
    trusted = trusted_networks(cloudflare_cidrs)
    values: dict[str, Any] = {
        # One Traefik per node, on the node's own 80/443: no load balancer, no servicelb, no NAT.
        # `deployment.dnsPolicy`, not a top-level `dnsPolicy`: the chart's key. On the host network
        # the default policy would resolve with the node's resolv.conf, blind to cluster Services.
        "deployment": {"kind": "DaemonSet", "dnsPolicy": "ClusterFirstWithHostNet"},
        "hostNetwork": True,
        # With hostNetwork the new pod cannot bind 80/443 while the old one holds them: a surge would
        # never become ready and the rollout would hang. Replace one node's pod at a time instead
        # (the chart itself refuses maxUnavailable < 1 with hostNetwork).
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        # Nodes serve 80/443 themselves; a LoadBalancer Service would only bring servicelb back.
        "service": {"type": "ClusterIP"},
        "ports": {
            # With hostNetwork the container ports are the host's: no hostPort needed (or allowed to differ).
            # Only Cloudflare's edge may set X-Forwarded-*; from anyone else Traefik overwrites them.
            # No PROXY protocol: Cloudflare's HTTP proxy does not send it (only Spectrum does).
            # (Separate lists per entrypoint: the YAML dump then carries no anchors.)
            # Every request on both passes the client-address middlewares (components/k8s/client_ip.py): only
            # Cloudflare's ranges are answered and CF-Connecting-IP is the one client address the apps see. The
            # chart turns `http.middlewares` into --entryPoints.<name>.http.middlewares (K3s v1.34.6 bundles chart
            # 39.0.501+up39.0.5: k3s-charts charts/traefik/39.0.501+up39.0.5/templates/_podtemplate.tpl L650-L652).
            # `asDefault`: a router that names no entrypoint joins these two only, never `metrics` (9100, reachable
            # from the private network, without these middlewares); Traefik otherwise puts it on every entrypoint
            # but `traefik` (v3.6.10 cmd/traefik/traefik.go L408-L435). Today's Ingresses name theirs anyway.
            "web": _public_entrypoint(80, trusted),
            "websecure": _public_entrypoint(443, trusted),
            # ping/dashboard (8080) and metrics (9100) still bind on the host: never in a Service, and
            # the node firewall closes both ports from outside.
            "traefik": {"expose": {"default": False}},
            "metrics": {"expose": {"default": False}},
        },
        # Non-root, without any capability: the node sets net.ipv4.ip_unprivileged_port_start to 80
        # (components/firewall/prefilter.py, applied by the firewall script before K3s starts), so any uid
        # binds 80/443 in the host network. A capability would not do: the image's binary has no file
        # capability and Kubernetes sets no ambient ones, so an added NET_BIND_SERVICE is lost at exec.
        # Non-root matters beyond the container: in the host network the node firewall lets only uid 0
        # reach the metadata service (the server's user data).
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": TRAEFIK_UID,
            "runAsGroup": TRAEFIK_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        # Not exposed anywhere: no dashboard router and no dashboard at all.
        "api": {"dashboard": False},
        "ingressRoute": {"dashboard": {"enabled": False}},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "logs": access_log_values(),
        **ingress_endpoint_values(ingress_hostname),
    }
    if tls_secret_name is not None:
        values["tlsStore"] = {"default": {"defaultCertificate": {"secretName": tls_secret_name}}}
    if client_ca_secret is not None:
        values["tlsOptions"] = client_auth_values(client_ca_secret, required=client_auth_required)
    return values


def helm_chart_config(
    cloudflare_cidrs: Sequence[str],
    tls_secret_name: str | None,
    *,
    ingress_hostname: str,
    client_ca_secret: str | None = None,
    client_auth_required: bool = False,
) -> dict[str, Any]:
    """The helm.cattle.io/v1 HelmChartConfig `traefik` in kube-system carrying `traefik_values`."""
    values = traefik_values(
        cloudflare_cidrs,
        tls_secret_name,
        ingress_hostname=ingress_hostname,
        client_ca_secret=client_ca_secret,
        client_auth_required=client_auth_required,
    )
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {
            # K3s matches the HelmChartConfig to its HelmChart by this exact name and namespace.
            "name": "traefik",
            "namespace": TRAEFIK_NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": "traefik",
                "app.kubernetes.io/instance": "traefik",
                "app.kubernetes.io/component": "ingress-controller",
                "app.kubernetes.io/part-of": "honeydue",
                "app.kubernetes.io/managed-by": "pulumi",
            },
        },
        "spec": {"valuesContent": dump_quoted(values, sort_keys=True)},
    }
