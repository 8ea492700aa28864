"""The K3s scripts (scripts/k3s/*.sh) and the remote command text that ships and runs them on a node.

Pure: no Pulumi import. Each command writes its files (and lib.sh), the secrets drop-in from stdin for the
scripts that (re)start K3s, then runs one script with a node-side time limit (components/remote.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.k3s.node import SECRETS_PATH
from components.remote import PATH, RemoteFile, StdinFile, remote_command

# The scripts that (re)start K3s, and so need the secrets drop-in current: they get it on stdin.
SECRET_SCRIPTS = frozenset({"install", "converge"})
# Seconds a step's script may run on the node (remote_command's time_limit): a backstop for what no
# script bounds itself (a hung installer, `systemctl` waiting on a stop job), above the worst case of
# the bounds they have (converge: lock 15 min, drain, restart and Ready twice, 10 min each).
STEP_TIME_LIMIT = 90 * 60
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "k3s"
SCRIPT_NAMES = (
    "wait-cloud-init",
    "install",
    "wait-ready",
    "upgrade",
    "remove",
    "fetch-kubeconfig",
    # The kubeconfig Pulumi uses: a ServiceAccount token (components/k3s/deployer.py).
    "deployer-kubeconfig",
    "converge",
    # Only on a node built by hand, while it is adopted (components/k3s/adopt.py).
    "adopt",
    # An agent has no admin kubeconfig: these three run on server 1 with the agent's env file.
    "agent-ready",
    "agent-drain",
    "agent-remove",
    # ... and this one on the agent itself.
    "agent-uninstall",
    # kured's sentinel command (components/k8s/kured.py): installed by the converge step, run by kured.
    "reboot-check",
    # On server 1 before Traefik's Middlewares are created (components/k3s/cluster.py traefik_crds).
    "wait-traefik-crds",
    # Sourced by every one of them, never run: see lib_file().
    "lib",
)
# Where server 1 keeps the env file of each agent it acts for; never its own /etc/honeydue/k3s.env.
AGENT_ENV_DIR = "/etc/honeydue/agents"
# Where converge.sh finds the scripts it runs on a node, and every script finds lib.sh.
LIB_DIR = "/usr/local/lib/honeydue/k3s"
CONVERGE_STEPS = ("upgrade", "install", "wait-ready")
# Installed by every converge step next to the scripts it runs, for kured to run (not converge.sh).
REBOOT_CHECK = "reboot-check"
REBOOT_CHECK_PATH = f"{LIB_DIR}/{REBOOT_CHECK}.sh"


def agent_env_path(node_name: str) -> str:
    """Where server 1 keeps the env file of agent `node_name`: one file per agent, so steps for several
    agents can run on server 1 at once, and server 1's own env file is never overwritten."""
    path = f"{AGENT_ENV_DIR}/{node_name}.env"
    if not PATH.fullmatch(path):
        raise ValueError(f"not a plain node name: {node_name!r}")
    return path


def lib_file() -> RemoteFile:
    """scripts/k3s/lib.sh at LIB_DIR/lib.sh, where every script sources it from (0644: sourced, never run).

    Every remote command that runs a script writes it (script_command, converge_files): a node never
    depends on an earlier step having left it there.
    """
    return RemoteFile(f"{LIB_DIR}/lib.sh", "0644", script("lib"))


def converge_files() -> tuple[RemoteFile, ...]:
    """The scripts converge.sh runs, installed on the node next to it, kured's sentinel command, and the
    lib.sh they all source."""
    steps = tuple(RemoteFile(f"{LIB_DIR}/{name}.sh", "0755", script(name)) for name in (*CONVERGE_STEPS, REBOOT_CHECK))
    return (*steps, lib_file())


def script_command(name: str, files: Sequence[RemoteFile], *, env_file: str | None = None) -> str:
    """The remote command that writes `files` and lib.sh (unless `files` holds it), then runs <name>.sh.

    install and converge (SECRET_SCRIPTS) first write their stdin, secrets_yaml(), to SECRETS_PATH.
    """
    lib = lib_file()
    shipped = [*files] if any(f.path == lib.path for f in files) else [*files, lib]
    stdin = StdinFile(SECRETS_PATH, "0600") if name in SECRET_SCRIPTS else None
    return remote_command(shipped, script(name), env_file=env_file, stdin_file=stdin, time_limit=STEP_TIME_LIMIT)


def script(name: str) -> str:
    """Text of scripts/k3s/<name>.sh."""
    if name not in SCRIPT_NAMES:
        raise ValueError(f"unknown K3s script {name!r}; one of {', '.join(SCRIPT_NAMES)}")
    return (SCRIPTS_DIR / f"{name}.sh").read_text(encoding="utf-8")
