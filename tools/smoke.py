"""The smoke check after every `up` (`make smoke`; the last step of .github/workflows/up.yml).

Requests each public hostname through Cloudflare and each node's Traefik directly (the Host header set,
as `curl --resolve` would), checks status codes and the health endpoints the probes use
(components/k8s/workloads.py: api /healthz and /readyz, admin /), then the cluster: every node Ready and
etcd healthy, through kubectl with the operator kubeconfig. Every request and call is bounded by a
timeout. Exit 1 with one line per failed check; exit 2 when the checks cannot run at all.

Origins: with originLockdown, 80/443 on the nodes answer Cloudflare only, so by default each node's
Traefik pod (hostNetwork, port 80) is reached through `kubectl port-forward`, which the deployer may
use (6443). `--origin NAME=HOST:PORT` names origins directly instead (e.g. without the lockdown).
"""

from __future__ import annotations

import argparse
import http.client
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tools.ops import Kubectl, OpsError, Site, kubeconfig_file, load_outputs, load_site

TRAEFIK_SELECTOR = "app.kubernetes.io/name=traefik"
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> 80")


@dataclass(frozen=True)
class Probe:
    """One request: the Host, the path, and the status that passes."""

    host: str
    path: str
    status: int


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Target:
    """Where requests go: a scheme and an address to connect to (None: resolve the Host by DNS)."""

    name: str
    scheme: str
    address: tuple[str, int] | None


def probes(site: Site) -> list[Probe]:
    """What must answer: the landing page and health on every api name, the admin app at `/`."""
    api_names = (site.domain, f"www.{site.domain}", site.api_hostname)
    found = [Probe(host, "/healthz", 200) for host in api_names]
    found += [Probe(site.domain, "/", 200), Probe(site.api_hostname, "/readyz", 200)]
    return [*found, Probe(site.admin_hostname, "/", 200)]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address with SNI and certificate checks for the Host (curl --resolve)."""

    def __init__(self, host: str, address: tuple[str, int], timeout: float) -> None:
        super().__init__(host, address[1], timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def request(target: Target, probe: Probe, timeout: float) -> int:
    """The status code of one GET (redirects are not followed)."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        address = target.address or (probe.host, 443)
        connection = _PinnedHTTPS(probe.host, address, timeout)
    else:
        host, port = target.address or (probe.host, 80)
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", probe.path, headers={"Host": probe.host, "User-Agent": "honeydue-smoke"})
        return connection.getresponse().status
    finally:
        connection.close()


def check_http(target: Target, probe: Probe, timeout: float, attempts: int, delay: float) -> Result:
    """One probe against one target, retried (Cloudflare and endpoints may still be settling)."""
    name = f"{target.name} {probe.host}{probe.path}"
    detail = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(delay)
        try:
            status = request(target, probe, timeout)
        except (OSError, http.client.HTTPException) as error:
            detail = f"no answer ({type(error).__name__}: {error})"
            continue
        if status == probe.status:
            return Result(name, True, str(status))
        detail = f"expected {probe.status}, got {status}"
    return Result(name, False, f"{detail} after {attempts} attempt(s)")


def check_cluster(kubectl: Kubectl, expected_nodes: Sequence[str]) -> list[Result]:
    """Every expected node exists and is Ready; the API server's etcd check passes; every etcd member
    node (K3s labels servers node-role.kubernetes.io/etcd=true) is Ready."""
    results = []
    try:
        nodes = kubectl.json(["get", "nodes"])["items"]
    except OpsError as error:
        return [Result("cluster nodes", False, str(error))]
    ready = {
        n["metadata"]["name"]: any(
            c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", [])
        )
        for n in nodes
    }
    for name in expected_nodes:
        state = "Ready" if ready.get(name) else "missing" if name not in ready else "not Ready"
        results.append(Result(f"node {name}", state == "Ready", state))
    extra = sorted(set(ready) - set(expected_nodes))
    results.append(Result("node count", not extra, f"{len(ready)} nodes, expected {len(expected_nodes)}"
                          + (f"; unexpected: {', '.join(extra)}" if extra else "")))  # fmt: skip
    etcd = [n["metadata"]["name"] for n in nodes if n["metadata"].get("labels", {}).get("node-role.kubernetes.io/etcd")]
    not_ready = [name for name in etcd if not ready[name]]
    results.append(Result("etcd members", bool(etcd) and not not_ready,
                          f"{len(etcd) - len(not_ready)} of {len(etcd)} etcd nodes Ready"))  # fmt: skip
    try:
        answer = kubectl.text(["get", "--raw", "/readyz/etcd"]).strip()
        results.append(Result("etcd health (/readyz/etcd)", answer == "ok", answer))
    except OpsError as error:
        results.append(Result("etcd health (/readyz/etcd)", False, str(error)))
    return results


@contextmanager
def port_forward(kubectl: Kubectl, pod: str, timeout: float = 20) -> Iterator[int]:
    """A local port forwarded to port 80 of a kube-system pod, for as long as the context lasts."""
    args = ["-n", "kube-system", "port-forward", f"pod/{pod}", ":80"]
    process = subprocess.Popen(kubectl.command(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        port = None
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = FORWARDING.search(line)
            port = int(match.group(1)) if match else None
        if port is None:
            raise OpsError(f"kubectl port-forward to {pod} did not start within {timeout:.0f} s")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def traefik_pods(kubectl: Kubectl) -> dict[str, str]:
    """Node name -> Traefik pod running there (the DaemonSet: one per node)."""
    pods = kubectl.json(["-n", "kube-system", "get", "pods", "-l", TRAEFIK_SELECTOR])["items"]
    return {p["spec"]["nodeName"]: p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") == "Running"}


def parse_origin(text: str) -> tuple[str, tuple[str, int]]:
    name, _, address = text.partition("=")
    host, _, port = address.rpartition(":")
    if not name or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--origin wants NAME=HOST:PORT, got {text!r}")
    return name, (host.strip("[]"), int(port))


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--outputs", help="stack outputs JSON (default: `pulumi stack output --json --show-secrets`)")
    parser.add_argument("--kubeconfig", help="default: the stack's kubeconfig output")
    parser.add_argument(
        "--origin",
        action="append",
        type=parse_origin,
        default=[],
        metavar="NAME=HOST:PORT",
        help="request this origin over HTTP instead of port-forwarding to each node's Traefik",
    )
    parser.add_argument(
        "--edge-resolve",
        type=lambda t: parse_origin("edge=" + t)[1],
        metavar="HOST:PORT",
        help="connect to this address for every public name (curl --resolve)",
    )
    parser.add_argument("--edge-scheme", choices=("https", "http"), default="https")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per request")
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--delay", type=float, default=5, help="seconds between attempts")
    return parser.parse_args(argv)  # fmt: skip


def run(args: argparse.Namespace) -> list[Result]:
    site = load_site(args.stack)
    outputs = load_outputs(args.outputs, args.stack)
    expected = [*outputs.get("nodes", {}), *outputs.get("agents", {})]
    checks = probes(site)

    def http_all(target: Target) -> list[Result]:
        return [check_http(target, p, args.timeout, args.attempts, args.delay) for p in checks]

    results = http_all(Target("edge", args.edge_scheme, args.edge_resolve))
    with kubeconfig_file(outputs, args.kubeconfig) as path, ExitStack() as stack:
        kubectl = Kubectl(path)
        origins: list[tuple[str, tuple[str, int]]] = list(args.origin)
        if not origins:
            pods = traefik_pods(kubectl)
            for node in expected:
                if node not in pods:
                    results.append(Result(f"origin {node}", False, "no running Traefik pod on the node"))
                    continue
                origins.append((node, ("127.0.0.1", stack.enter_context(port_forward(kubectl, pods[node])))))
        for name, address in origins:
            results += http_all(Target(f"origin {name}", "http", address))
        results += check_cluster(kubectl, expected)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        results = run(args)
    except (OpsError, OSError, KeyError, ValueError) as error:
        print(f"smoke: cannot run the checks: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(f"{'ok  ' if result.ok else 'FAIL'}  {result.name}: {result.detail}")
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"smoke: {len(failed)} of {len(results)} checks failed:", file=sys.stderr)
        for result in failed:
            print(f"  - {result.name}: {result.detail}", file=sys.stderr)
        return 1
    print(f"smoke: all {len(results)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
