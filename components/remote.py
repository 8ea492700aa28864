"""Shipping files to a node and running a script there over SSH, as one POSIX sh command text.

Pure: plain values in, text out. Used by the K3s steps (components/k3s) and the firewall sync
(components/firewall/sync.py), which run the text with pulumi-command.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_DELIMITER = "HONEYDUE_EOF"
_MODE = re.compile(r"0?[0-7]{3}", re.ASCII)
# Paths are our own constants; the pattern keeps them free of anything a shell would interpret.
PATH = re.compile(r"(/[A-Za-z0-9_.+-]+)+", re.ASCII)


@dataclass(frozen=True)
class RemoteFile:
    """A file the remote command writes before it runs its script."""

    path: str
    """Absolute path on the node."""
    mode: str
    """Octal permissions, e.g. "0600"."""
    content: str
    """Exact content (no NUL bytes)."""


@dataclass(frozen=True)
class StdinFile:
    """A file the remote command fills from its standard input (pulumi-command's `stdin`), before anything else.

    For secrets: they stay out of the command text (shown in previews, and the argv of the node's
    `sh -c`, readable in /proc/*/cmdline) and reach the node only through the SSH channel's stdin.
    """

    path: str
    """Absolute path on the node."""
    mode: str = "0600"
    """Octal permissions; the file is created with them (umask 077), never wider even for a moment."""
    remove_on_exit: bool = False
    """Removed again when the command ends, however it ends (the EXIT trap): for a secret the node needs only while
    the script runs. A SIGKILL of the command's own shell is the one way around it."""


def _delimiter(texts: Sequence[str]) -> str:
    """A heredoc delimiter that occurs nowhere in any text, so no content line can end a heredoc early."""
    candidate, n = _DELIMITER, 0
    while any(candidate in text for text in texts):
        n += 1
        candidate = f"{_DELIMITER}_{n}"
    return candidate


def _heredoc(target: str, text: str, delimiter: str) -> list[str]:
    """Shell lines writing `text` byte for byte to the file named by shell variable `target`."""
    body = text if not text or text.endswith("\n") else text + "\n"
    lines = [f"cat >\"${target}\" <<'{delimiter}'\n{body}{delimiter}"]
    if body != text:
        # A heredoc always ends with a newline; drop the one the content did not have.
        lines.append(f'truncate -s -1 "${target}"')
    return lines


def _check_path(path: str) -> None:
    if not PATH.fullmatch(path) or "/../" in path + "/" or "/./" in path + "/":
        raise ValueError(f"not a plain absolute path: {path!r}")


def _atomic_write(path: str, mode: str, fill: list[str]) -> list[str]:
    """Shell lines writing a file through a temp file in its own directory: `fill` writes "$tmp"."""
    quoted = shlex.quote(path)
    directory = shlex.quote(str(Path(path).parent))
    name = shlex.quote(f".{Path(path).name}.XXXXXX")
    return [
        # Only a missing directory is created: an existing one keeps its owner's mode.
        f'[ -d "$root"{directory} ] || install -d -m 0755 "$root"{directory}',
        # Same directory as the target, so the mv below is an atomic rename.
        f'tmp="$(mktemp "$root"{directory}/{name})"',
        *fill,
        f'chmod {mode} "$tmp"',
        f'mv -f "$tmp" "$root"{quoted}',
        'tmp=""',
    ]


def _check_mode(path: str, mode: str) -> None:
    if not _MODE.fullmatch(mode):
        raise ValueError(f"{path}: mode must be octal like 0600, got {mode!r}")


def remote_command(
    files: Sequence[RemoteFile],
    script: str,
    *,
    time_limit: int,
    env_file: str | None = None,
    stdin_file: StdinFile | None = None,
) -> str:
    """The text pulumi-command runs over SSH: write `files` atomically, then run `script` with bash.

    POSIX sh, so it works whatever the login shell. Contents go through quoted heredocs only, never
    through shell parsing. Every path is prefixed with $HONEYDUE_ROOT (unset on nodes) so tests can
    run the same text in a throwaway root. `env_file` (one of our own constant paths) tells a script
    that acts for another node (server 1 for an agent) which env file to read: it is passed as
    HONEYDUE_ENV_FILE in the command text itself, never through sshd's environment. `stdin_file`:
    the command's whole stdin is written (atomically, created 0600) to that file first, and must not
    be empty. `time_limit` (seconds) bounds the script on the node. Deterministic.
    """
    if time_limit < 1:
        raise ValueError(f"time_limit must be at least 1 second, got {time_limit}")
    for f in files:
        _check_path(f.path)
        _check_mode(f.path, f.mode)
        if "\0" in f.content:
            raise ValueError(f"{f.path}: content must not contain NUL bytes")
    if "\0" in script:
        raise ValueError("script must not contain NUL bytes")
    delimiter = _delimiter([f.content for f in files] + [script])
    gone = stdin_file is not None and stdin_file.remove_on_exit
    lines = [
        "set -eu",
        'root="${HONEYDUE_ROOT:-}"',
        # A failed run must not leave a half-written file (the secrets drop-in, a script) behind.
        'tmp=""',
        'run=""',
        *(['gone=""'] if gone else []),
        "trap 'rm -f " + " ".join(f'${{{v}:+"${v}"}}' for v in ("tmp", "run", *(["gone"] if gone else []))) + "' EXIT",
        # A dropped SSH session (HUP) or a kill still goes through the EXIT trap.
        "trap 'exit 129' HUP",
        "trap 'exit 130' INT",
        "trap 'exit 143' TERM",
    ]
    if stdin_file is not None:
        _check_path(stdin_file.path)
        _check_mode(stdin_file.path, stdin_file.mode)
        # First, before any other command could read stdin. pulumi-command hands `stdin` to the SSH
        # session (session.Stdin, provider/pkg/provider/remote/commandOutputs.go in v1.2.1), and
        # x/crypto/ssh closes the channel's write side after copying it (ssh/session.go, stdin()), so
        # `cat` meets EOF even when nothing was sent. mktemp creates the file 0600; the secret never
        # becomes an argument of any process. Named for the trap before it exists: no moment without it.
        lines += [f'gone="$root"{shlex.quote(stdin_file.path)}'] if gone else []
        lines += _atomic_write(
            stdin_file.path,
            stdin_file.mode,
            [
                'cat >"$tmp"',
                f'[ -s "$tmp" ] || {{ echo "nothing on stdin for {stdin_file.path}" >&2; exit 1; }}',
            ],
        )

    for f in files:
        lines += _atomic_write(f.path, f.mode, _heredoc("tmp", f.content, delimiter))
    if env_file is not None:
        _check_path(env_file)
        lines += [f"HONEYDUE_ENV_FILE={shlex.quote(env_file)}", "export HONEYDUE_ENV_FILE"]
    lines += [
        'run="$(mktemp)"',
        *_heredoc("run", script, delimiter),
        # From a file, not stdin: a command in the script that reads stdin would swallow the rest of it.
        # Bounded on the node: pulumi-command's custom timeouts cancel its context, which stops the
        # dialing (retry.Until(ctx), provider/pkg/provider/remote/connection.go) but not a running
        # session (session.Run takes no context, commandOutputs.go), so a hung script would hold
        # `pulumi up` forever. GNU timeout signals the script's whole process group, then KILLs it.
        "rc=0",
        f'timeout -k 30 {time_limit} bash "$run" </dev/null || rc=$?',
        f'[ "$rc" -ne 124 ] || echo "the step did not finish within {time_limit}s on this node: stopped" >&2',
        'exit "$rc"',
    ]
    return "\n".join(lines) + "\n"


_WRITE = re.compile(
    r"""^tmp="\$\(mktemp "\$root"(?P<dir>[^ ]*)/[^ ]*\)"\n"""
    r"""cat >"\$tmp" <<'(?P<delim>[A-Z0-9_]+)'\n(?P<body>.*?)^(?P=delim)\n"""
    r"""(?P<truncate>truncate -s -1 "\$tmp"\n)?"""
    r"""chmod (?P<mode>[0-7]{4}) "\$tmp"\nmv -f "\$tmp" "\$root"(?P<path>\S+)$""",
    re.ASCII | re.MULTILINE | re.DOTALL,
)


def written_files(command: str) -> dict[str, RemoteFile]:
    """The files a `remote_command` text writes, by path: its inverse, for the plan's review artifacts."""
    found = {}
    for match in _WRITE.finditer(command):
        body = match.group("body")
        content = body[:-1] if match.group("truncate") else body
        path = shlex.split(match.group("path"))[0]
        found[path] = RemoteFile(path=path, mode=match.group("mode"), content=content)
    return found
