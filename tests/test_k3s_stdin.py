"""Issue 13 item 4 on the node: the K3s token reaches a node on the step's stdin, lands in a 0600 drop-in,
and is on no process's command line (/proc/*/cmdline) while the step runs; with the control that the watch
does see a token spliced into the command text, as before. Fixtures: test_k3s_scripts.py's fakes.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable

from components.k3s.node import SECRETS_PATH, node_files, secrets_yaml
from components.k3s.scripts import script_command
from components.remote import RemoteFile
from tests import test_k3s_scripts as base
from tests.test_k3s_scripts import Node, settings

pytestmark = base.pytestmark
make_node = base.make_node  # the fixture

# --- secrets on stdin, never on a command line --------------------------------------------------------


def _run_install_watching_argv(node: Node, command: str, token: str, stdin: str) -> list[str]:
    node.set("argv_watch", token)
    proc = subprocess.run(["sh", "-c", command], input=stdin, env=node.env, capture_output=True, text=True, timeout=15)
    assert proc.returncode == 0, proc.stderr
    assert (node.state / "argv_scanned").exists()  # the fake systemctl looked while k3s started
    leaks = node.state / "argv_leaks"
    return leaks.read_text().splitlines() if leaks.exists() else []


def test_the_token_reaches_the_node_on_stdin_and_no_command_line_holds_it(make_node: Callable[..., Node]) -> None:
    token = f"K10-{uuid.uuid4().hex}"
    s = settings()
    node = make_node(s)
    (node.root / SECRETS_PATH.lstrip("/")).unlink()
    command = script_command("install", node_files(s))
    assert token not in command

    leaks = _run_install_watching_argv(node, command, token, secrets_yaml(s, token))

    assert leaks == []
    drop_in = node.root / SECRETS_PATH.lstrip("/")
    assert drop_in.read_text() == f"token: '{token}'\n"
    assert drop_in.stat().st_mode & 0o777 == 0o600


def test_the_argv_watch_sees_a_token_spliced_into_the_command_text(make_node: Callable[..., Node]) -> None:
    """The control: the design this replaces (the drop-in inlined as a heredoc) puts the token on `sh -c`'s
    command line, and the watch reports it."""
    token = f"K10-{uuid.uuid4().hex}"
    s = settings()
    node = make_node(s)
    inlined = RemoteFile(SECRETS_PATH, "0600", secrets_yaml(s, token))
    command = script_command("install", [inlined, *node_files(s)])

    leaks = _run_install_watching_argv(node, command, token, secrets_yaml(s, token))

    assert leaks and all(token in leak for leak in leaks)
