#!/usr/bin/env bash
# Authorizes the stack's next deploy key for root, and removes the previous one (deployKeyGeneration).
#
# Runs once per running node, over a connection that still logs in with the previous key
# (components/k3s/deploy_key.py); every later step of the same `up` logs in with the new key. Servers only
# receive Hetzner SSH keys at creation (their ssh_keys are held), so without this a rotated key would reach
# no running node. Other entries (the operators' keys) stay as they are.
#
# HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

readonly KEYS=${HONEYDUE_ROOT:-}/etc/honeydue/deploy-keys
readonly SSH_DIR=${HONEYDUE_ROOT:-}/root/.ssh
readonly AUTHORIZED=$SSH_DIR/authorized_keys

# Two lines: the new key, then the previous one ("<type> <base64> [comment]").
{ read -r new_type new_body _ && read -r old_type old_body _; } <"$KEYS"
for part in "$new_type" "$old_type"; do
  [[ $part == ssh-ed25519 ]] || { echo "authorize-deploy-key: expected ssh-ed25519 keys in $KEYS" >&2; exit 1; }
done
[[ -n $new_body && -n $old_body && $new_body != "$old_body" ]] || {
  echo "authorize-deploy-key: $KEYS must hold two different keys" >&2
  exit 1
}

install -d -m 0700 "$SSH_DIR"
touch "$AUTHORIZED"
# Written beside the file and renamed over it: sshd never reads half a file.
work=$(mktemp "$AUTHORIZED.XXXXXX")
trap 'rm -f "$work"' EXIT
# Every line that holds neither deploy key, then the new key once.
awk -v old="$old_body" -v new="$new_body" '{ for (i = 1; i <= NF; i++) if ($i == old || $i == new) next; print }' \
  "$AUTHORIZED" >"$work"
printf '%s %s honeydue-deploy\n' "$new_type" "$new_body" >>"$work"
chmod 0600 "$work"
mv -f "$work" "$AUTHORIZED"
trap - EXIT
echo "deploy key authorized: ${new_type} ${new_body:0:24}...; the previous one removed"
