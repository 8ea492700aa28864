"""Remote commands that print a secret keep their output secret and out of the logs.

pulumi-command stores `stdout`/`stderr` in the state in plaintext unless they are listed in the
resource's additionalSecretOutputs, and by default logs both into the update's output (CI logs
included) and exports the previous run's output into the next run's environment. CrossGuard sees the
options: `args.opts.additional_secret_outputs` holds what the engine registered.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from honeydue_policies.common import get

COMMAND_TYPES = ("command:remote:Command", "command:local:Command")
# What a script that prints a secret contains: the K3s admin kubeconfig, the server/agent join token,
# or kubectl printing a kubeconfig with its keys.
SECRET_PRINT_MARKERS = (
    "fetch-kubeconfig",
    "/etc/rancher/k3s/k3s.yaml",
    "/var/lib/rancher/k3s/server/token",
    "/var/lib/rancher/k3s/server/node-token",
    "config view --raw",
)
SECRET_NAME_SUFFIXES = ("-kubeconfig", "-token")
QUIET_LOGGING = ("none",)


def prints_secret(args: ResourceValidationArgs) -> str | None:
    """Why this command's output is a secret, or None."""
    if args.name.endswith(SECRET_NAME_SUFFIXES):
        return f"its name ends with {args.name.rsplit('-', 1)[1]!r}"
    for field in ("create", "update"):
        text = get(args.props, field)
        if isinstance(text, str):
            for marker in SECRET_PRINT_MARKERS:
                if marker in text:
                    return f"its {field} script reads {marker}"
    return None


def check(args: ResourceValidationArgs) -> Iterator[str]:
    """A command that prints a secret has secret stdout/stderr, no logging, no previous output in env."""
    if args.resource_type not in COMMAND_TYPES:
        return
    reason = prints_secret(args)
    if reason is None:
        return
    marked = set(args.opts.additional_secret_outputs or ())
    missing = [o for o in ("stdout", "stderr") if o not in marked]
    if missing:
        yield (
            f"command {args.name} prints a secret ({reason}) but {' and '.join(missing)} "
            "are not in additionalSecretOutputs: the state would hold it in plaintext"
        )
    logging = get(args.props, "logging", default="stdoutAndStderr")
    if logging not in QUIET_LOGGING:
        yield f"command {args.name} prints a secret ({reason}) with logging {logging!r}; use Logging.NONE"
    if get(args.props, "addPreviousOutputInEnv", default=True) is not False:
        yield (
            f"command {args.name} prints a secret ({reason}); set add_previous_output_in_env=False so the "
            "next run does not get it in PULUMI_COMMAND_STDOUT"
        )
