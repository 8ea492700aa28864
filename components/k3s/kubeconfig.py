"""The kubeconfig read from server 1 (deployer-kubeconfig.sh), pointed at the API endpoint the stack serves."""

from __future__ import annotations

import ipaddress

import yaml

from components.yaml_text import dump_quoted


def api_server_url(endpoint: str) -> str:
    """https URL of the Kubernetes API on a host name or an IPv4/IPv6 address."""
    try:
        host = f"[{endpoint}]" if ipaddress.ip_address(endpoint).version == 6 else endpoint
    except ValueError:
        host = endpoint
    return f"https://{host}:6443"


def rewrite_server(kubeconfig: str, endpoint: str) -> str:
    """K3s writes `server: https://127.0.0.1:6443` (and the deployer kubeconfig keeps K3s's cluster entry);
    every cluster entry is pointed at `endpoint` instead.

    The endpoint must be one of the server's tls-san entries, or clients reject the certificate.
    """
    document = yaml.safe_load(kubeconfig)
    clusters = document.get("clusters") if isinstance(document, dict) else None
    if not clusters:
        raise ValueError("the kubeconfig read from the first server has no clusters")
    for entry in clusters:
        entry["cluster"]["server"] = api_server_url(endpoint)
    return dump_quoted(document, sort_keys=False)
