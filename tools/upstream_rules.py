"""Derives the replace-forcing properties of every resource type the program uses from upstream source.

`python -m tools.upstream_rules --mirror DIR > offline/upstream_rules.json`, re-run whenever a provider pin in
requirements.txt moves (tests/test_upstream_rules.py fails until it is). DIR holds bare git mirrors named
`<owner>+<repo>/repo` (the `fetch` tool's layout). What it reads, as upstream writes it down as data:
* Terraform providers (the bridged pulumi-hcloud, -cloudflare, -tls, -random): each schema attribute whose
  block says `ForceNew: true` (SDKv2) or has a `RequiresReplace…` plan modifier (plugin framework);
* pulumi-kubernetes: the `forceNew` table of provider/pkg/provider/diff.go;
* pulumi-command: the inputs its schema.json marks `replaceOnChanges`.
Each fact carries its provenance: repository, the ref read, its commit, path, line and the file's sha256.
Behaviour that lives in code (step order, import-then-diff, what an update does) is not derived: it stays
hand-read and cited in offline/engine_model.py and offline/side_effects.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

KEY = re.compile(r'"([a-z0-9_]+)":\s*(?:schema\.\w+(?:Attribute|Block)\s*|&schema\.Schema\s*)?\{', re.ASCII)
REPLACES = re.compile(r"ForceNew:\s*true|RequiresReplace\w*\(|[rR]equireReplace\w*\(", re.ASCII)
SCHEMA_START = re.compile(
    r"map\[string\]\*schema\.Schema\{|(?:Attributes|Blocks)\s*(?:=|:)\s*map\[string\]schema\.(?:Attribute|Block)\{",
    re.ASCII,
)


@dataclass(frozen=True)
class Source:
    """One upstream file as read."""

    repo: str
    ref: str
    commit: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Fact:
    type: str
    """The Pulumi resource type."""
    property: str
    """The Pulumi input path (camelCase) whose change replaces the resource."""
    line: int
    source: Source


@dataclass(frozen=True)
class Upstream:
    """Where one provider's rules are read: the pin of ours it stands for, and the ref read for it."""

    package: str
    """The pinned Python SDK (requirements.txt)."""
    pin: str
    repo: str
    ref: str
    note: str
    files: dict[str, str]
    """Pulumi type -> path in the repository."""
    kind: str = "terraform"


UPSTREAMS = (
    Upstream("pulumi-hcloud", "1.43.3", "hetznercloud/terraform-provider-hcloud", "v1.68.0",
             "the SDK's inputs are v1.68.0's schema (datacenter text of v1.67.0, load balancer type fields of v1.68.0)",
             {"hcloud:index/server:Server": "internal/server/resource.go",
              "hcloud:index/network:Network": "internal/network/resource.go",
              "hcloud:index/networkSubnet:NetworkSubnet": "internal/network/resource_subnet.go",
              "hcloud:index/placementGroup:PlacementGroup": "internal/placementgroup/resource.go",
              "hcloud:index/sshKey:SshKey": "internal/sshkey/resource.go",
              "hcloud:index/firewall:Firewall": "internal/firewall/resource.go"}),
    Upstream("pulumi-cloudflare", "6.23.1", "cloudflare/terraform-provider-cloudflare", "v5.22.0",
             "newest release in the snapshot; the release 6.23.1 bridges is not in it: re-read when it is",
             {"cloudflare:index/dnsRecord:DnsRecord": "internal/services/dns_record/schema.go",
              "cloudflare:index/zoneSetting:ZoneSetting": "internal/services/zone_setting/schema.go",
              "cloudflare:index/originCaCertificate:OriginCaCertificate":
                  "internal/services/origin_ca_certificate/schema.go",
              "cloudflare:index/loadBalancer:LoadBalancer": "internal/services/load_balancer/schema.go",
              "cloudflare:index/loadBalancerPool:LoadBalancerPool": "internal/services/load_balancer_pool/schema.go",
              "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor":
                  "internal/services/load_balancer_monitor/schema.go",
              "cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate":
                  "internal/services/authenticated_origin_pulls_certificate/schema.go",
              "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings":
                  "internal/services/authenticated_origin_pulls_settings/schema.go"}),
    Upstream("pulumi-tls", "5.6.2", "hashicorp/terraform-provider-tls", "v4.2.1", "newest release in the snapshot",
             {"tls:index/privateKey:PrivateKey": "internal/provider/resource_private_key.go",
              "tls:index/certRequest:CertRequest": "internal/provider/resource_cert_request.go",
              "tls:index/selfSignedCert:SelfSignedCert": "internal/provider/resource_self_signed_cert.go",
              "tls:index/locallySignedCert:LocallySignedCert": "internal/provider/resource_locally_signed_cert.go"}),
    Upstream("pulumi-random", "4.21.4", "hashicorp/terraform-provider-random", "v3.9.0",
             "newest release in the snapshot",
             {"random:index/randomPassword:RandomPassword": "internal/provider/resource_password.go"}),
    Upstream("pulumi-command", "1.2.1", "pulumi/pulumi-command", "v1.2.1", "the pinned release itself",
             {"command:remote:Command": "provider/cmd/pulumi-resource-command/schema.json",
              "command:local:Command": "provider/cmd/pulumi-resource-command/schema.json"}, kind="schema-json"),
    Upstream("pulumi-kubernetes", "4.34.2", "pulumi/pulumi-kubernetes", "HEAD",
             "the snapshot's newest commit (2026-07-01, after v4.32.0); v4.34.2 is not in it",
             {"kubernetes:*": "provider/pkg/provider/diff.go"}, kind="k8s-diff"),
)  # fmt: skip


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _block_end(text: str, open_at: int) -> int:
    """Index of the `}` closing the `{` at `open_at` (strings and comments in schemas hold no braces we meet)."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced braces")


def schema_replaces(text: str) -> Iterator[tuple[str, int]]:
    """(snake path, line) of each attribute or block of the resource's schema that forces a replacement: every
    top-level schema map of the file (attributes and blocks), nested ones as `parent.child`."""
    parsed: list[tuple[int, int]] = []
    for start in SCHEMA_START.finditer(text):
        open_at = start.end() - 1
        if any(begin <= open_at <= end for begin, end in parsed):
            continue
        close = _block_end(text, open_at)
        parsed.append((open_at, close))
        yield from _attributes(text, open_at, close, "")
    if not parsed:
        raise ValueError("no schema map found")


def _attributes(text: str, begin: int, end: int, prefix: str) -> Iterator[tuple[str, int]]:
    position = begin + 1
    while (match := KEY.search(text, position, end)) is not None:
        open_at = match.end() - 1
        close = _block_end(text, open_at)
        body = text[open_at:close]
        children = list(_child_spans(text, open_at, close))
        own = body
        for child_start, child_end in reversed(children):
            own = own[: child_start - open_at] + own[child_end - open_at + 1 :]
        path = prefix + match.group(1)
        if REPLACES.search(own):
            yield path, text.count("\n", 0, match.start()) + 1
        yield from _attributes(text, open_at, close, path + ".")
        position = close + 1


def _child_spans(text: str, begin: int, end: int) -> Iterator[tuple[int, int]]:
    position = begin + 1
    while (match := KEY.search(text, position, end)) is not None:
        close = _block_end(text, match.end() - 1)
        yield match.start(), close
        position = close + 1


K8S_ENTRY = re.compile(r'"(\w+)":\s*(\w+|properties\{[^}]*\})', re.ASCII)
K8S_VAR = re.compile(r"var (\w+) = (?:append\(\s*)?properties\{([^}]*)\}", re.ASCII)
K8S_GROUPS = {"apps": "apps/v1", "core": "core/v1", "rbac.authorization.k8s.io": "rbac.authorization.k8s.io/v1",
              "storage.k8s.io": "storage.k8s.io/v1", "batch": "batch/v1", "policy": "policy/v1"}  # fmt: skip


def k8s_force_new(text: str) -> Iterator[tuple[str, str, int]]:
    """(pulumi type, path, line) of diff.go's forceNew table for the v1 version of each group."""
    named = {m.group(1): (m.group(2), m.start()) for m in K8S_VAR.finditer(text)}
    for group, version in K8S_GROUPS.items():
        key = "var core = _versions{" if group == "core" else f'"{group}": _versions{{'
        at = text.find(key)
        if at < 0:
            continue
        block_end = _block_end(text, text.index("{", at + len(key) - 1))
        v1 = text.find('"v1":', at, block_end)
        if v1 < 0:
            continue
        kinds_open = text.index("{", v1)
        kinds_end = _block_end(text, kinds_open)
        for kind, value, where in _k8s_kinds(text, kinds_open, kinds_end, named):
            for path in re.findall(r'"\.([\w.]+)"', value, re.ASCII):
                yield f"kubernetes:{version}:{kind}", path, text.count("\n", 0, where) + 1


def _k8s_kinds(text: str, begin: int, end: int, named: dict[str, tuple[str, int]]) -> Iterator[tuple[str, str, int]]:
    position = begin + 1
    while (match := re.compile(r'"(\w+)":\s*', re.ASCII).search(text, position, end)) is not None:
        rest = text[match.end() : end]
        if rest.startswith("append(") or rest.startswith("properties{"):
            close = _block_end(text, text.index("{", match.end()))
            yield match.group(1), text[match.end() : close + 1], match.start()
            position = close + 1
            continue
        ident = re.match(r"\w+", rest, re.ASCII)
        if ident and ident.group(0) in named:
            body, where = named[ident.group(0)]
            yield match.group(1), body, where
        position = match.end() + (ident.end() if ident else 1)


def _git(mirror: Path, repo: str, *args: str) -> str:
    git_dir = mirror / repo.replace("/", "+") / "repo"
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True).stdout


def derive(mirror: Path) -> dict[str, object]:
    facts: list[Fact] = []
    for up in UPSTREAMS:
        commit = _git(mirror, up.repo, "rev-parse", f"{up.ref}^{{commit}}").strip()
        for type_, path in up.files.items():
            text = _git(mirror, up.repo, "show", f"{commit}:{path}")
            source = Source(up.repo, up.ref, commit, path, hashlib.sha256(text.encode()).hexdigest())
            if up.kind == "terraform":
                facts += [Fact(type_, camel(p), line, source) for p, line in schema_replaces(text)]
            elif up.kind == "schema-json":
                inputs = json.loads(text)["resources"][type_]["inputProperties"]
                for name, spec in inputs.items():
                    if spec.get("replaceOnChanges"):
                        line = text.count("\n", 0, text.index(f'"{name}"', text.index(f'"{type_}"'))) + 1
                        facts.append(Fact(type_, name, line, source))
            else:
                facts += [Fact(t, p, line, source) for t, p, line in k8s_force_new(text)]
    return {
        "generated_by": "python -m tools.upstream_rules --mirror <dir>",
        "upstreams": [asdict(u) for u in UPSTREAMS],
        "facts": [asdict(f) for f in sorted(facts, key=lambda f: (f.type, f.property))],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    args = parser.parse_args(argv)
    json.dump(derive(args.mirror), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
