#!/usr/bin/env bash
# Replaces the node's SSH host key with one generated here, and prints its public half for the stack to pin.
#
# The key the node booted with came in its user data, and Hetzner's metadata service serves a server's user
# data to any asker for the server's whole life: whoever reads it could impersonate the node to Pulumi. So
# once, right after first boot, over the connection still pinned to that key (components/k3s/host_key.py),
# the node makes its own; every later step pins the key this prints. Nothing valid is left in user data.
#
# HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

readonly SSH_DIR=${HONEYDUE_ROOT:-}/etc/ssh
readonly KEY=$SSH_DIR/ssh_host_ed25519_key

# Generated beside the key, so each move below is an atomic rename: sshd never reads half a key.
work=$(mktemp -d "$SSH_DIR/.honeydue-host-key.XXXXXX")
trap 'rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N '' -C "$(hostname)" -f "$work/key"
mv -f "$work/key.pub" "$KEY.pub"
mv -f "$work/key" "$KEY"

# "<type> <base64>", the form pulumi-command's host_key takes.
read -r type key _ <"$KEY.pub"
[[ $type == ssh-ed25519 && -n $key ]] || { echo "rotate-host-key: unexpected public key in $KEY.pub" >&2; exit 1; }

if [[ -z ${HONEYDUE_ROOT:-} ]]; then
  # Ubuntu's sshd (socket activation) forks each connection from the listener without re-executing, so
  # connections keep the keys loaded at start: only a reload (SIGHUP: the listener restarts itself, its
  # socket and this session stay) serves the new key. Then prove it is served before reporting it: a run
  # that fails before this point leaves the node serving the bootstrap key, and the step can run again.
  systemctl reload ssh.service
  served=''
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    served=$(ssh-keyscan -q -T 2 -t ed25519 127.0.0.1 2>/dev/null | awk '{ print $2, $3 }') || true
    [[ $served == "$type $key" ]] && break
    sleep 1
  done
  [[ $served == "$type $key" ]] || { echo "rotate-host-key: sshd still serves ${served:-nothing}, not the new key" >&2; exit 1; }
fi
printf '%s %s\n' "$type" "$key"
