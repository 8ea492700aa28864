"""A network-namespace lab for the firewall test, plus the listener and prober it runs inside namespaces.

Topology. Every address exists only inside namespaces this module creates: documentation ranges for
the outside hosts, 10.0.1.0/24 and 10.42.0.0/16 for the private network and the pods. Nothing is
routed to the host's own namespace.

    admin 198.51.100.10, 2001:db8:100::10        ┐
    cf    203.0.113.10 + .200, 2001:db8:c0/c1::10 ├─ rtr ── pub0 192.0.2.2, 2001:db8:1::2  ┐
    inet  192.0.2.50, 2001:db8:50::50            ┘                                         │
          + forged 10.0.1.99, 10.42.9.9; "metadata" 169.254.169.254                        │ node
    peer  10.0.1.20, 2001:db8:10::20 ───────────────────────────── priv0 10.0.1.10        │ (UFW)
          10.42.1.1 (a pod on the peer) ─────────────────────────── flannel.1 10.42.0.0   │
    pod   10.42.0.5 ──────────────────────────────────────────────── cni0 10.42.0.1        ┘

The node gets its own /etc/ufw and /etc/default (copies in a temp dir, bind-mounted in a private mount
namespace for each command), so ufw inside it never touches the host's files or chains.

Run as a script inside a namespace: `listen` (TCP accept + UDP echo), `probe` (one-shot matrix) or
`watch` (probe in a loop until stdin closes).
"""

from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

PROBE_TIMEOUT = 1.5
COMMAND_TIMEOUT = 60.0
LISTENER_LIFETIME = 180.0
WATCH_LIFETIME = 90.0

ROLES = ("node", "rtr", "peer", "pod", "admin", "cf", "inet")


@dataclass(frozen=True, kw_only=True)
class Link:
    """A veth pair between two namespaces."""

    a: str
    """Role of one end."""
    a_if: str
    """Interface name at that end."""
    a_addrs: tuple[str, ...]
    """Addresses (with prefix length) at that end."""
    b: str
    """Role of the other end."""
    b_if: str
    """Interface name at the other end."""
    b_addrs: tuple[str, ...]
    """Addresses at the other end."""


LINKS = (
    Link(
        a="node",
        a_if="pub0",
        a_addrs=("192.0.2.2/28", "2001:db8:1::2/64"),
        b="rtr",
        b_if="n0",
        b_addrs=("192.0.2.1/28", "2001:db8:1::1/64"),
    ),
    Link(
        a="node",
        a_if="priv0",
        a_addrs=("10.0.1.10/24", "2001:db8:10::10/64"),
        b="peer",
        b_if="priv0",
        b_addrs=("10.0.1.20/24", "2001:db8:10::20/64"),
    ),
    # Stands in for the VXLAN tunnel: remote pods' packets come out of flannel.1 with pod sources.
    Link(
        a="node",
        a_if="flannel.1",
        a_addrs=("10.42.0.0/32",),
        b="peer",
        b_if="flannel.1",
        b_addrs=("10.42.1.0/32", "10.42.1.1/32"),
    ),
    # Two local pods behind the bridge: one that no NetworkPolicy selects, one with the app's policies.
    Link(
        a="node",
        a_if="cni0",
        a_addrs=("10.42.0.1/24",),
        b="pod",
        b_if="eth0",
        b_addrs=("10.42.0.5/24", "10.42.0.6/24"),
    ),
    Link(
        a="rtr",
        a_if="adm0",
        a_addrs=("198.51.100.1/24", "2001:db8:100::1/64"),
        b="admin",
        b_if="eth0",
        b_addrs=("198.51.100.10/24", "2001:db8:100::10/64"),
    ),
    Link(
        a="rtr",
        a_if="cf0",
        a_addrs=("203.0.113.1/24", "2001:db8:c0::1/64", "2001:db8:c1::1/64"),
        b="cf",
        b_if="eth0",
        b_addrs=("203.0.113.10/24", "203.0.113.200/24", "2001:db8:c0::10/64", "2001:db8:c1::10/64"),
    ),
    Link(
        a="rtr",
        a_if="inet0",
        a_addrs=("192.0.2.49/28", "2001:db8:50::1/64"),
        b="inet",
        b_if="eth0",
        # Forged sources (a private node address, a pod address) and the metadata service's address.
        b_addrs=("192.0.2.50/28", "2001:db8:50::50/64", "10.0.1.99/32", "10.42.9.9/32", "169.254.169.254/32"),
    ),
)

ROUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("node", ("-4", "route", "add", "default", "via", "192.0.2.1")),
    ("node", ("-6", "route", "add", "default", "via", "2001:db8:1::1")),
    # As flannel routes other nodes' pod subnets: via the peer's tunnel address, onlink.
    ("node", ("-4", "route", "add", "10.42.1.0/24", "via", "10.42.1.0", "dev", "flannel.1", "onlink")),
    ("rtr", ("-4", "route", "add", "10.42.0.0/16", "via", "192.0.2.2")),
    # The forger reaches the node's private address through the public NIC.
    ("rtr", ("-4", "route", "add", "10.0.1.0/24", "via", "192.0.2.2")),
    ("rtr", ("-4", "route", "add", "169.254.169.254/32", "via", "192.0.2.50")),
    ("peer", ("-4", "route", "add", "10.42.0.0/24", "via", "10.42.0.0", "dev", "flannel.1", "onlink")),
    ("pod", ("-4", "route", "add", "default", "via", "10.42.0.1")),
    ("admin", ("-4", "route", "add", "default", "via", "198.51.100.1")),
    ("admin", ("-6", "route", "add", "default", "via", "2001:db8:100::1")),
    ("cf", ("-4", "route", "add", "default", "via", "203.0.113.1")),
    ("cf", ("-6", "route", "add", "default", "via", "2001:db8:c0::1")),
    ("inet", ("-4", "route", "add", "default", "via", "192.0.2.49")),
    ("inet", ("-6", "route", "add", "default", "via", "2001:db8:50::1")),
)

# The node forwards pod traffic (like a K3s node), the router everything. Reverse-path filtering is off
# everywhere (Lab._build): Ubuntu's loose mode (rp_filter=2) accepts a forged private source anyway,
# since a route to it exists, and the test must show that the firewall itself drops it.
FORWARDING: tuple[tuple[str, str], ...] = (
    ("node", "net.ipv4.ip_forward=1"),
    ("rtr", "net.ipv4.ip_forward=1"),
    ("rtr", "net.ipv6.conf.all.forwarding=1"),
)


@dataclass(frozen=True, kw_only=True)
class Probe:
    """One connection attempt: from `src` (inside namespace `host`) to `dst`:`port`."""

    host: str
    """Role of the namespace the probe runs in."""
    label: str
    """Human name of the source, e.g. 'cloudflare-old v6'."""
    src: str
    """Source address (bound explicitly)."""
    dst: str
    """Destination address."""
    proto: str
    """tcp or udp."""
    port: int
    """Destination port."""
    routed: bool = False
    """The destination is behind the node (forwarded), not the node itself."""
    uid: int = 0
    """The uid the prober runs as (a hostNetwork pod runs as non-root)."""
    sport: int = 0
    """Source port (0: any), e.g. 67 for a DHCP server's answer."""


def run(
    argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command with a bound runtime; on failure raise with its output."""
    proc = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def _hash_tree(root: Path) -> dict[str, str]:
    if not root.exists():
        return {str(root): "absent"}
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): f"{p.stat().st_mode:o}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in paths}


def _strip_counters(text: str) -> str:
    lines = (re.sub(r"\[\d+:\d+\]", "", line) for line in text.splitlines() if not line.startswith("#"))
    return "\n".join(lines)


def host_snapshot() -> dict[str, str]:
    """What must not change on the host: its UFW files and its own netfilter rules (read-only look)."""
    snapshot = _hash_tree(Path("/etc/ufw")) | _hash_tree(Path("/etc/default/ufw"))
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool):
            snapshot[tool] = _strip_counters(run([tool], check=False).stdout)
    if shutil.which("nft"):
        snapshot["nft"] = run(["nft", "list", "ruleset"], check=False).stdout
    return snapshot


def our_namespaces() -> list[str]:
    """Names of namespaces left over by labs of this process."""
    names = run(["ip", "netns", "list"]).stdout.split()
    return [n for n in names if n.startswith("hd-") and f"-{os.getpid()}-" in n]


class Lab:
    """The namespaces, links, node-local UFW config and background processes of one test."""

    def __init__(self) -> None:
        self.suffix = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.ns = {role: f"hd-{role}-{self.suffix}" for role in ROLES}
        self.tmp = Path(tempfile.mkdtemp(prefix="hd-ufw-lab-"))
        self.etc_ufw = self.tmp / "etc-ufw"
        self.etc_default = self.tmp / "etc-default"
        self._created: list[str] = []
        self._procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Lab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _build(self) -> None:
        for role in ROLES:
            run(["ip", "netns", "add", self.ns[role]])
            self._created.append(self.ns[role])
            run(["ip", "-n", self.ns[role], "link", "set", "lo", "up"])
            # Without DAD, link-local addresses are usable at once; while they are tentative the
            # routers' neighbour discovery fails and v6 through rtr stays unreachable for ~2 s.
            for setting in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"):
                self.exec(role, ["sysctl", "-q", "-w", setting])
        for link in LINKS:
            self._link(link)
        # kube-proxy's IPVS mode binds Service IPs to a dummy interface (kube-ipvs0) on every node: a
        # local address like any other (lo here: no dummy module needed; pods' packets still arrive on cni0).
        run(["ip", "-n", self.ns["node"], "addr", "add", "10.43.0.10/32", "dev", "lo"])
        for role, args in ROUTES:
            run(["ip", "-n", self.ns[role], *args])
        for role, setting in FORWARDING:
            self.exec(role, ["sysctl", "-q", "-w", setting])
        for role in ROLES:
            # Replies to pods on the peer come back through the tunnel, not the way a route would send them.
            for setting in ("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"):
                self.exec(role, ["sysctl", "-q", "-w", setting])
        self._fresh_ufw_config()
        self._wait_until_settled()

    def _wait_until_settled(self, limit: float = 5.0) -> None:
        deadline = time.monotonic() + limit
        for role in ROLES:
            while run(["ip", "-n", self.ns[role], "-6", "addr", "show", "tentative"]).stdout.strip():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"IPv6 addresses in {role} still tentative after {limit} s")
                time.sleep(0.05)

    def _link(self, link: Link) -> None:
        # Created inside the namespaces directly: no interface ever appears in the host namespace.
        run(
            [
                "ip",
                "-n",
                self.ns[link.a],
                "link",
                "add",
                link.a_if,
                "type",
                "veth",
                "peer",
                "name",
                link.b_if,
                "netns",
                self.ns[link.b],
            ]
        )
        for role, ifname, addrs in ((link.a, link.a_if, link.a_addrs), (link.b, link.b_if, link.b_addrs)):
            for addr in addrs:
                run(["ip", "-n", self.ns[role], "addr", "add", addr, "dev", ifname])
            run(["ip", "-n", self.ns[role], "link", "set", ifname, "up"])

    def _fresh_ufw_config(self) -> None:
        """A fresh Ubuntu node's ufw config (package defaults, inactive), drifted where the script must fix it."""
        shutil.copytree("/etc/ufw", self.etc_ufw, symlinks=True)
        pristine = Path("/usr/share/ufw")
        for name, source in (
            ("user.rules", "iptables/user.rules"),
            ("user6.rules", "iptables/user6.rules"),
            ("ufw.conf", "ufw.conf"),
        ):
            if (pristine / source).is_file():
                shutil.copyfile(pristine / source, self.etc_ufw / name)
        shutil.copytree("/etc/default", self.etc_default, symlinks=True)
        defaults = self.etc_default / "ufw"
        text = defaults.read_text()
        text = re.sub(r"(?m)^IPV6=.*$", "IPV6=no", text)
        text = re.sub(r"(?m)^DEFAULT_FORWARD_POLICY=.*$", 'DEFAULT_FORWARD_POLICY="ACCEPT"', text)
        defaults.write_text(text)

    def exec(self, role: str, argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run a command inside a namespace."""
        return run(["ip", "netns", "exec", self.ns[role], *argv], **kwargs)  # type: ignore[arg-type]

    def node_ufw(self, argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run a command in the node namespace with the node's own /etc/ufw and /etc/default."""
        return run(self.node_ufw_argv(argv), **kwargs)  # type: ignore[arg-type]

    def node_ufw_background(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """node_ufw, started in the background (stopped by close() at the latest)."""
        proc = subprocess.Popen(self.node_ufw_argv(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._procs.append(proc)
        return proc

    def node_ufw_argv(self, argv: Sequence[str]) -> list[str]:
        """The full command line of node_ufw."""
        # `ip netns exec` already enters a new mount namespace (for /sys); unshare makes it private
        # explicitly, so the bind mounts can never propagate to the host.
        wrapper = 'mount --bind "$1" /etc/ufw && mount --bind "$2" /etc/default && shift 2 && exec "$@"'
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            wrapper,
            "sh",
            str(self.etc_ufw),
            str(self.etc_default),
            *argv,
        ]
        return ["ip", "netns", "exec", self.ns["node"], *argv]

    def _spawn(self, role: str, args: Sequence[str]) -> subprocess.Popen[str]:
        argv = ["ip", "netns", "exec", self.ns[role], sys.executable, str(Path(__file__).resolve()), *args]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._procs.append(proc)
        return proc

    def listen(self, role: str, *, tcp: Iterable[int] = (), udp: Iterable[int] = ()) -> None:
        """Start TCP/UDP responders (dual-stack) in a namespace and wait until they are bound."""
        proc = self._spawn(role, ["listen", "--tcp", ",".join(map(str, tcp)), "--udp", ",".join(map(str, udp))])
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10.0)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            proc.kill()
            raise RuntimeError(
                f"listener in {role} did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )

    def probe(self, probes: Sequence[Probe]) -> dict[Probe, bool]:
        """Run every probe (in parallel, one prober per source namespace); True = got through."""
        by_host: dict[tuple[str, int], list[Probe]] = {}
        for p in probes:
            by_host.setdefault((p.host, p.uid), []).append(p)
        results: dict[Probe, bool] = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(by_host) or 1) as pool:
            futures = {key: pool.submit(self._probe_host, *key, batch) for key, batch in by_host.items()}
            for key, future in futures.items():
                results.update(zip(by_host[key], future.result(), strict=True))
        return results

    def _probe_host(self, host: str, uid: int, batch: list[Probe]) -> list[bool]:
        argv = [sys.executable, str(Path(__file__).resolve()), "probe"]
        if uid:
            # Another uid may not reach the checkout (a clone under a 0700 directory): it runs a world-
            # readable copy of this file (standard library only) with the interpreter the venv links to.
            argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    os.path.realpath(sys.executable), str(_shared_copy()), "probe"]  # fmt: skip
        out = self.exec(host, argv, stdin=json.dumps([asdict(p) for p in batch]), timeout=30.0).stdout
        return [bool(x) for x in json.loads(out)]

    def count_arrivals(self, matches: Sequence[tuple[str, str]]) -> None:
        """Count packets that got past the node's filter table: a rule per (name, iptables match) in
        the security table, whose INPUT/FORWARD hooks run after filter (netfilter hook priorities)."""
        for name, match in matches:
            for chain in ("INPUT", "FORWARD"):
                self.exec("node", ["iptables", "-w", "-t", "security", "-A", chain, *match.split(),
                                   "-m", "comment", "--comment", name])  # fmt: skip

    def arrivals(self) -> dict[str, int]:
        """Packets counted per name (INPUT and FORWARD together) since count_arrivals."""
        out = self.exec("node", ["iptables-save", "-c", "-t", "security"]).stdout
        counts: dict[str, int] = {}
        for line in out.splitlines():
            found = re.match(r"\[(\d+):\d+\] -A \w+ .*--comment (\S+)", line)
            if found:
                counts[found.group(2)] = counts.get(found.group(2), 0) + int(found.group(1))
        return counts

    def watch(self, probes: Sequence[Probe]) -> Watch:
        """Start probing in a loop (one process per source namespace) until Watch.stop()."""
        procs = []
        for host in sorted({p.host for p in probes}):
            proc = self._spawn(host, ["watch"])
            assert proc.stdin is not None
            proc.stdin.write(json.dumps([asdict(p) for p in probes if p.host == host]) + "\n")
            proc.stdin.flush()
            procs.append(proc)
        return Watch(procs)

    def close(self) -> None:
        """Stop every process we started, delete our namespaces and temp dir. Safe to call twice."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        for name in reversed(self._created):
            # Processes inside a namespace outlive `ip netns del`; all of them are ours.
            for pid in run(["ip", "netns", "pids", name], check=False).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", name], check=False)
        self._created.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Watch:
    """Background probers; stop() returns, per probe, (successes, failures)."""

    def __init__(self, procs: list[subprocess.Popen[str]]) -> None:
        self._procs = procs

    def stop(self) -> dict[Probe, tuple[int, int]]:
        results: dict[Probe, tuple[int, int]] = {}
        for proc in self._procs:
            # communicate() closes stdin first: that is the stop signal.
            out, err = proc.communicate(timeout=PROBE_TIMEOUT * 4)
            if proc.returncode != 0:
                raise RuntimeError(f"watcher failed: {err}")
            for item in json.loads(out):
                results[Probe(**item["probe"])] = (item["ok"], item["failed"])
        return results


# ---- inside a namespace -------------------------------------------------------------------------


def _dual_stack(kind: socket.SocketKind, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    sock.setblocking(False)
    return sock


def _serve(tcp: list[int], udp: list[int], lifetime: float) -> None:
    sel = selectors.DefaultSelector()
    for port in tcp:
        sock = _dual_stack(socket.SOCK_STREAM, port)
        sock.listen(128)
        sel.register(sock, selectors.EVENT_READ, "tcp")
    for port in udp:
        sel.register(_dual_stack(socket.SOCK_DGRAM, port), selectors.EVENT_READ, "udp")
    print("ready", flush=True)
    deadline = time.monotonic() + lifetime
    while (left := deadline - time.monotonic()) > 0:
        for key, _ in sel.select(timeout=min(left, 1.0)):
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            try:
                if key.data == "tcp":
                    ready.accept()[0].close()
                else:
                    data, peer = ready.recvfrom(512)
                    ready.sendto(data, peer)
            except OSError:
                continue


def _probe_once(p: Probe, timeout: float = PROBE_TIMEOUT) -> bool:
    family = socket.AF_INET6 if ":" in p.dst else socket.AF_INET
    kind = socket.SOCK_STREAM if p.proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout)
        try:
            sock.bind((p.src, p.sport))
            if kind == socket.SOCK_STREAM:
                sock.connect((p.dst, p.port))
                return True
            # Not connected: the echo of a wildcard-bound responder comes from the address its route
            # picks (for a Service IP on the node: the bridge address), not the one we sent to.
            token = secrets.token_bytes(8)
            sock.sendto(token, (p.dst, p.port))
            while True:
                if sock.recvfrom(64)[0] == token:
                    return True
        except OSError:
            return False


def _probe_all(probes: list[Probe]) -> list[bool]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(probes), 128) or 1) as pool:
        return list(pool.map(_probe_once, probes))


def _watch(probes: list[Probe]) -> list[dict[str, object]]:
    stop = threading.Event()
    counts = {p: [0, 0] for p in probes}

    def loop(p: Probe) -> None:
        deadline = time.monotonic() + WATCH_LIFETIME
        while not stop.is_set() and time.monotonic() < deadline:
            counts[p][0 if _probe_once(p, timeout=3.0) else 1] += 1
            stop.wait(0.05)

    threads = [threading.Thread(target=loop, args=(p,), daemon=True) for p in probes]
    for t in threads:
        t.start()
    sys.stdin.read()  # the parent closes stdin to stop us
    stop.set()
    for t in threads:
        t.join(timeout=5.0)
    return [{"probe": asdict(p), "ok": counts[p][0], "failed": counts[p][1]} for p in probes]


def _ports(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    listen = sub.add_parser("listen")
    listen.add_argument("--tcp", default="")
    listen.add_argument("--udp", default="")
    listen.add_argument("--lifetime", type=float, default=LISTENER_LIFETIME)
    sub.add_parser("probe")
    sub.add_parser("watch")
    args = parser.parse_args(argv)
    if args.command == "listen":
        _serve(_ports(args.tcp), _ports(args.udp), args.lifetime)
    elif args.command == "probe":
        print(json.dumps(_probe_all([Probe(**item) for item in json.load(sys.stdin)])))
    else:
        print(json.dumps(_watch([Probe(**item) for item in json.loads(sys.stdin.readline())])))
    return 0


_SHARED: list[Path] = []


def _shared_copy() -> Path:
    """This file, copied once into a directory every uid may read (removed when the process exits)."""
    if not _SHARED:
        directory = Path(tempfile.mkdtemp(prefix="hd-lab-"))
        directory.chmod(0o755)
        copy = directory / "netns_lab.py"
        shutil.copyfile(Path(__file__).resolve(), copy)
        copy.chmod(0o644)
        atexit.register(shutil.rmtree, directory, True)
        _SHARED.append(copy)
    return _SHARED[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
