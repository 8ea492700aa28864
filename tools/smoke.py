"""The smoke check after every `up` (`make smoke`; the last step of .github/workflows/up.yml).

Requests each public hostname through Cloudflare and each node's Traefik directly (the Host header set,
as `curl --resolve` would), checks status codes and the health endpoints the probes use
(components/k8s/workloads.py: api /healthz and /readyz, admin /), then the cluster: every node Ready and
etcd healthy, through kubectl with the operator kubeconfig. Every request and call is bounded by a
timeout. Exit 1 with one line per failed check; exit 2 when the checks cannot run at all.

Through Cloudflare every answer must carry `cf-ray`: Cloudflare gives a Ray ID to every request it proxies
(developers.cloudflare.com/fundamentals/reference/cloudflare-ray-id/); an answer without one came from
elsewhere (a DNS-only record, or one pointing straight at an origin). Any server could send one, though.

Origins: with originLockdown, 80/443 on the nodes answer Cloudflare only, so by default each node's
Traefik pod (hostNetwork: its ports are the node's) is reached through `kubectl port-forward`, which the
deployer may use (6443). `--origin NAME=HOST:PORT` names origins directly instead (e.g. without the lockdown).
In SSL mode full or strict (`--ssl-mode`, default `stack_ssl_mode`) Cloudflare reaches them on 443 for
HTTPS visitors (on 80 for HTTP ones), so each is requested there too (the pod's 443, or HOST:443 of an
`--origin`), and the certificate it serves with SNI = each public name is read. Verified: the TLS
handshake; the subjectAltName (or, lacking one, the CN)
covers the name (`openssl x509 -checkhost`); now is within notBefore..notAfter. Not verified: that the
Origin CA signed it (no public trust store holds that CA and the repository has no copy of its root, so the
chain goes unchecked; in strict mode Cloudflare checks it), nor revocation.

Authenticated Origin Pulls (full/strict): requests through Cloudflare to the probe route must reach Traefik with our
client certificate, and in phase 2 (originPullsRequired, `--origin-pulls-required` overrides) the requests to the
origins present the gate's probe certificate from the state (tools/smoke_pulls.py).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from components.config.checks import SSL_MODES
from components.config.reader import NAMESPACE
from offline.stack_config import StackFileError, stack_config
from tools.ops import PROJECT_DIR, Kubectl, OpsError, kubeconfig_file, load_export, load_outputs, load_site
from tools.smoke_http import (
    Probe,
    Result,
    Target,
    check_certificate,
    check_http,
    probes,
)
from tools.smoke_pulls import check_origin_pulls, nonce, probe_certificate

TRAEFIK_SELECTOR = "app.kubernetes.io/name=traefik"
# kubectl prints one line per local listener (127.0.0.1 and [::1] for each port: client-go portforward.go).
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", re.ASCII)


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
def port_forward(kubectl: Kubectl, pod: str, ports: Sequence[int], timeout: float = 20) -> Iterator[dict[int, int]]:
    """Local ports forwarded to `ports` of a kube-system pod (pod port -> local port), while the context lasts."""
    args = ["-n", "kube-system", "port-forward", f"pod/{pod}", *(f":{port}" for port in ports)]
    process = subprocess.Popen(kubectl.command(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        local: dict[int, int] = {}
        while len(local) < len(ports) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = FORWARDING.search(line)
            if match and int(match.group(2)) in ports:
                local[int(match.group(2))] = int(match.group(1))
        if len(local) < len(ports):
            raise OpsError(f"kubectl port-forward to {pod} did not start within {timeout:.0f} s")
        yield local
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


def forwarded_origins(
    kubectl: Kubectl, nodes: Sequence[str], stack: ExitStack, tls: bool, client_cert: str | None = None
) -> list[Target | Result]:
    """Each node's Traefik through port-forward (443 too when Cloudflare uses it), or why it can't be reached."""
    pods = traefik_pods(kubectl)
    found: list[Target | Result] = []
    for node in nodes:
        if node not in pods:
            found.append(Result(f"origin {node}", False, "no running Traefik pod on the node"))
            continue
        local = stack.enter_context(port_forward(kubectl, pods[node], (80, 443) if tls else (80,)))
        https = ("127.0.0.1", local[443]) if tls else None
        found += origin_targets(node, ("127.0.0.1", local[80]), https, client_cert)
    return found


def origin_targets(
    name: str, http: tuple[str, int], https: tuple[str, int] | None, client_cert: str | None = None
) -> list[Target]:
    plain = Target(f"origin {name}", "http", http)
    return [plain, Target(f"origin {name} https", "https", https, client_cert=client_cert)] if https else [plain]


def check_target(target: Target, checks: Sequence[Probe], args: argparse.Namespace) -> list[Result]:
    """Every probe; on an origin's HTTPS, each public name's certificate too."""
    bounds = (args.timeout, args.attempts, args.delay)
    results = [check_http(target, p, *bounds) for p in checks]
    if target.scheme == "https" and not target.edge:
        results += [check_certificate(target, host, *bounds) for host in dict.fromkeys(p.host for p in checks)]
    return results


def stack_ssl_mode(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    """The stack's sslMode as `pulumi up` reads it: Pulumi.<stack>.yaml, else Pulumi.yaml's default. No output
    carries it; the stack's ESC environment sets no such config (esc/*.yaml), else pass --ssl-mode."""
    mode = stack_config(stack, project_dir=project_dir)[0][f"{NAMESPACE}:sslMode"]
    if mode not in SSL_MODES:
        raise OpsError(f"Pulumi.{stack}.yaml: sslMode {mode!r} is not one of {', '.join(SSL_MODES)}")
    return mode


def stack_origin_pulls_required(stack: str, project_dir: Path = PROJECT_DIR) -> bool:
    """The stack's originPullsRequired as `pulumi up` reads it (phase 2 of Authenticated Origin Pulls)."""
    return str(stack_config(stack, project_dir=project_dir)[0][f"{NAMESPACE}:originPullsRequired"]).lower() == "true"


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
    parser.add_argument("--ssl-mode", choices=SSL_MODES, help="default: the stack's sslMode config")
    parser.add_argument(
        "--origin-pulls-required",
        action=argparse.BooleanOptionalAction,
        help="default: the stack's originPullsRequired config (full/strict only)",
    )
    parser.add_argument(
        "--state",
        help="phase 2: the decrypted state JSON holding the probe certificate"
        " (default: `pulumi stack export --show-secrets`)",
    )
    parser.add_argument(
        "--origin",
        action="append",
        type=parse_origin,
        default=[],
        metavar="NAME=HOST:PORT",
        help="request this origin over HTTP (and HOST:443 in full/strict mode) instead of"
        " port-forwarding to each node's Traefik",
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
    tls = (args.ssl_mode or stack_ssl_mode(args.stack)) != "flexible"
    required = args.origin_pulls_required
    required = tls and (stack_origin_pulls_required(args.stack) if required is None else required)
    outputs = load_outputs(args.outputs, args.stack)
    expected = [*outputs.get("nodes", {}), *outputs.get("agents", {})]
    results: list[Result] = []
    with kubeconfig_file(outputs, args.kubeconfig) as path, ExitStack() as stack:
        kubectl = Kubectl(path)
        # Phase 2: every node refuses a client without a certificate of our origin-pull CA.
        cert = stack.enter_context(probe_certificate(load_export(args.state, args.stack))) if required else None
        edge = Target("edge", args.edge_scheme, args.edge_resolve, edge=True)
        targets: list[Target | Result] = [edge]
        for name, address in args.origin:
            targets += origin_targets(name, address, (address[0], 443) if tls else None, cert)
        targets += [] if args.origin else forwarded_origins(kubectl, expected, stack, tls, cert)
        for target in targets:
            results += check_target(target, probes(site), args) if isinstance(target, Target) else [target]
        if tls:
            bounds = (args.timeout, args.attempts, args.delay)
            results.append(check_origin_pulls(edge, site.domain, kubectl, bounds, nonce()))
        results += check_cluster(kubectl, expected)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        results = run(args)
    except (OpsError, StackFileError, OSError, KeyError, ValueError) as error:
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
