"""Installs the stack's deploy key on adopted nodes over the operator's own SSH access (`make adopt-keys`).

Adopted nodes never ran this stack's cloud-init, so the key pulumi-command logs in with is not in their
authorized_keys. For every node in `adoptedHostKeys` this connects as root with the operator's key (ssh-agent
or ~/.ssh), pinning the configured host key (StrictHostKeyChecking=yes against a known_hosts made of those
keys only, so a wrong pin fails here, not in the stack), appends the deploy public key unless present, and
checks that sshd lets root in with a key. It is idempotent.

The deploy public key comes from the stack's state (`pulumi stack export`: the tls PrivateKey
`honeydue-deploy`, whose public half is not a secret); the addresses from `hcloud server list -o json` in the
LIVE directory that `make adopt-check` reads too. docs/migration.md, step 3, says when to run it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.config.checks import ssh_public_key
from offline.stack_config import PROJECT_DIR, StackFileError, stack_config

DEPLOY_KEY_TYPE = "tls:index/privateKey:PrivateKey"
DEPLOY_SSH_KEY_TYPE = "hcloud:index/sshKey:SshKey"
DEPLOY_KEY_NAME = "honeydue-deploy"
SERVERS_FILE = "hcloud-servers.json"

# Runs on the node as root, with the key as $1. POSIX sh: whatever root's login shell is.
# HONEYDUE_ROOT (unset on nodes) prefixes the paths for tests.
REMOTE_SCRIPT = r"""set -eu
key=$1
dir="${HONEYDUE_ROOT:-}/root/.ssh"
file=$dir/authorized_keys
umask 077
[ -d "$dir" ] || mkdir -p "$dir"
if [ -f "$file" ] && grep -qxF "$key" "$file"; then
    echo "deploy key: already authorized"
else
    # A last line without its newline would merge with ours into one broken line.
    if [ -s "$file" ] && [ -n "$(tail -c 1 "$file")" ]; then echo >>"$file"; fi
    printf '%s\n' "$key" >>"$file"
    echo "deploy key: added to /root/.ssh/authorized_keys"
fi
grep -qxF "$key" "$file" || { echo "ERROR: the deploy key is not in $file after writing it" >&2; exit 1; }
if command -v sshd >/dev/null 2>&1; then
    # sshd -T prints every effective setting as '<lower-case keyword> <value>'.
    settings=$(sshd -T 2>/dev/null || true)
    for refusal in "permitrootlogin no" "pubkeyauthentication no"; do
        if printf '%s\n' "$settings" | grep -qx "$refusal"; then
            echo "ERROR: sshd has '$refusal'; the stack logs in as root with a key" >&2
            exit 1
        fi
    done
fi
echo "deploy key: root can log in with it"
"""


class AdoptKeysError(Exception):
    """Something the operator must fix first; the message says what."""


def engine_urn(urn: str) -> str:
    """The URN as the engine writes it: the mock runtime qualifies top-level types with the root Stack's type,
    the engine does not (a resource parented to the stack has no parent type in its URN)."""
    return urn.replace("::pulumi:pulumi:Stack$", "::", 1)


def deploy_public_key(state: Mapping[str, Any]) -> str:
    """The deploy public key from a `pulumi stack export` document, with a comment naming it."""
    for resource in state.get("deployment", {}).get("resources") or []:
        urn = str(resource.get("urn", ""))
        if resource.get("type") == DEPLOY_KEY_TYPE and urn.endswith(f"::{DEPLOY_KEY_NAME}"):
            key = str((resource.get("outputs") or {}).get("publicKeyOpenssh", "")).strip()
            if ssh_public_key(key) is None:
                return " ".join(key.split()[:2]) + f" {DEPLOY_KEY_NAME}"
    raise AdoptKeysError(
        f"the stack's state has no deploy key ({DEPLOY_KEY_NAME}) yet: create it first with the targeted "
        "`pulumi up` of docs/migration.md, step 3"
    )


def server_addresses(servers: list[dict[str, Any]]) -> dict[str, str]:
    """Name -> public IPv4 from `hcloud server list -o json`."""
    return {s["name"]: s["public_net"]["ipv4"]["ip"] for s in servers if (s.get("public_net") or {}).get("ipv4")}


def pinned_host_keys(stack_file: Path) -> dict[str, str]:
    """`adoptedHostKeys` of the stack file, by server name (the stack file read as `make plan` reads it)."""
    config, _ = stack_config(
        stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml"), project_dir=stack_file.parent
    )
    entries = json.loads(config.get("honeydue:adoptedHostKeys", "[]"))
    return {name.strip(): key.strip() for name, _, key in (str(e).partition("=") for e in entries)}


def known_hosts(addresses: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """known_hosts lines pinning each adopted node's configured key to its address."""
    missing = sorted(set(keys) - set(addresses))
    if missing:
        raise AdoptKeysError(f"{SERVERS_FILE} has no server named {', '.join(missing)}")
    return "".join(f"{addresses[name]} {keys[name]}\n" for name in sorted(keys))


def ssh_command(address: str, known_hosts_file: Path, key: str) -> list[str]:
    """ssh as root with the operator's key, the configured host key pinned, never prompting."""
    options = [
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts_file}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=10",
    ]  # fmt: skip
    return ["ssh", *options, f"root@{address}", f"sh -s -- {shlex.quote(key)}"]


# What the state may hold when adoptDeployKeyFirst runs (docs/migration.md step 3): nothing, or what an earlier
# run of the same mode left. Anything else would be deleted by it (the program registers nothing else).
DEPLOY_KEY_FIRST_STATE = {
    ("pulumi:pulumi:Stack", None),
    ("pulumi:pulumi:StackReference", None),
    ("honeydue:nodes:Nodes", "honeydue"),
    (DEPLOY_KEY_TYPE, DEPLOY_KEY_NAME),
    (DEPLOY_SSH_KEY_TYPE, DEPLOY_KEY_NAME),
}


def deploy_key_first_problem(state: dict[str, object]) -> str | None:
    """Why `make up` must not run adoptDeployKeyFirst on this state (`pulumi stack export`), or None."""
    deployment = state.get("deployment")
    resources: list[dict[str, object]] = (deployment.get("resources") or []) if isinstance(deployment, dict) else []
    others = [
        str(r.get("urn"))
        for r in resources
        if not str(r.get("type", "")).startswith("pulumi:providers:")
        and (r.get("type"), None) not in DEPLOY_KEY_FIRST_STATE
        and (r.get("type"), str(r.get("urn", "")).rsplit("::", 1)[-1]) not in DEPLOY_KEY_FIRST_STATE
    ]
    if not others:
        return None
    return (
        f"honeydue:adoptDeployKeyFirst is set but the state holds {len(others)} other resources (e.g. {others[0]}), "
        "which this mode would delete: unset it (docs/migration.md step 3 runs before anything else exists)"
    )


def _check_deploy_key_first(export: str) -> int:
    try:
        problem = deploy_key_first_problem(_state_document(export))
    except AdoptKeysError as error:
        problem = str(error)
    if problem:
        print(f"adopt-keys: {problem}", file=sys.stderr)
        return 2
    return 0


def _state_document(text: str) -> dict[str, object]:
    """`pulumi stack export` output, or one sentence saying it is not one."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise AdoptKeysError("`pulumi stack export` printed no JSON state (logged in? the stack selected?)") from None
    if not isinstance(document, dict):
        raise AdoptKeysError("`pulumi stack export` printed no JSON state object")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--live", type=Path, help=f"directory holding {SERVERS_FILE}")
    parser.add_argument("--state", type=Path, help="a `pulumi stack export` file (default: run it)")
    parser.add_argument("--dry-run", action="store_true", help="print what would run, connect nowhere")
    parser.add_argument(
        "--check-deploy-key-first",
        action="store_true",
        help="read `pulumi stack export` on stdin; fail when adoptDeployKeyFirst would delete something",
    )
    args = parser.parse_args(argv)
    if args.check_deploy_key_first:
        return _check_deploy_key_first(sys.stdin.read())
    if args.live is None:
        parser.error("--live is required")
    try:
        if args.state:
            state = _state_document(args.state.read_text())
        else:
            exported = subprocess.run(
                ["pulumi", "stack", "export", "--stack", args.stack], capture_output=True, text=True, check=True
            )
            state = _state_document(exported.stdout)
        key = deploy_public_key(state)
        keys = pinned_host_keys(PROJECT_DIR / f"Pulumi.{args.stack}.yaml")
        if not keys:
            raise AdoptKeysError(f"honeydue:adoptedHostKeys is empty in Pulumi.{args.stack}.yaml: pin the nodes first")
        addresses = server_addresses(json.loads((args.live / SERVERS_FILE).read_text()))
        pins = known_hosts(addresses, keys)
    except (AdoptKeysError, StackFileError, OSError, subprocess.CalledProcessError, json.JSONDecodeError) as error:
        print(f"adopt-keys: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        pin_file = Path(tmp) / "known_hosts"
        pin_file.write_text(pins)
        commands = {name: ssh_command(addresses[name], pin_file, key) for name in sorted(keys)}
        if args.dry_run:
            print("\n".join(f"{name}: {shlex.join(command)}" for name, command in commands.items()))
            return 0
        try:
            failed = [name for name, command in commands.items() if not _authorize(name, command)]
        except FileNotFoundError:
            print("adopt-keys: no `ssh` on PATH (OpenSSH's client)", file=sys.stderr)
            return 2
    if failed:
        print(
            f"adopt-keys: failed on {', '.join(failed)} (a host key mismatch is reported by ssh above)", file=sys.stderr
        )
        return 1
    return 0


def _authorize(name: str, command: list[str]) -> bool:
    """Runs the remote script on one node; prints what it said. False when it failed or did not answer."""
    try:
        result = subprocess.run(command, input=REMOTE_SCRIPT, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        print(f"{name}: no answer within 60 s")
        return False
    print(f"{name}: {(result.stdout + result.stderr).strip()}")
    return result.returncode == 0


if __name__ == "__main__":
    sys.exit(main())
