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

# sshd loads its host keys in each connection's re-executed child, so the next connection gets the new
# key and this session goes on; a reload makes the listener agree too. (Not in a test root.)
if [[ -z ${HONEYDUE_ROOT:-} ]] && systemctl is-active --quiet ssh.service; then
  systemctl reload ssh.service
fi

# "<type> <base64>", the form pulumi-command's host_key takes.
read -r type key _ <"$KEY.pub"
[[ $type == ssh-ed25519 && -n $key ]] || { echo "rotate-host-key: unexpected public key in $KEY.pub" >&2; exit 1; }
printf '%s %s\n' "$type" "$key"
