#!/usr/bin/env bash
# The first step on a node built by hand that the stack adopts (adoptIds), before any other step there.
# It fails fast, naming what to fix, when the node is not the running K3s node adoption expects; else it
# records the checksum of the config K3s runs with as the one last applied, so install.sh and converge.sh
# find "nothing to do" when the rendered config is the same, and restart K3s once when it is not.
#
# Inputs: /etc/honeydue/k3s.env (K3S_VERSION, NODE_NAME, ROLE), written by the same remote command just
# before this script. HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'adopt.sh [%s]' /etc/honeydue/k3s.env

config_dir=$root/etc/rancher/k3s
checksum_file=$root/var/lib/honeydue/k3s-config.sha256
unit=$(k3s_unit)

if [[ -s $checksum_file ]]; then
    say "this node's config was applied by the stack before: nothing to adopt"
    exit 0
fi
current=$(installed_version)
[[ -n $current ]] ||
    die "k3s is not installed here: this is not a running K3s node (check the server id in adoptIds and the host)"
# The installer is never re-run for the release a node runs; another release would be an upgrade (drain,
# restart) in the very first update: adopt at the running release, upgrade in a later change.
[[ $current == "$K3S_VERSION" ]] ||
    die "k3s $current runs here but k3sVersion is $K3S_VERSION: set k3sVersion to $current to adopt, upgrade later"
systemctl is-active --quiet "$unit" ||
    die "$unit is not running: adopt a running node (start it, or find out why it stopped, first)"
[[ -f $config_dir/config.yaml ]] ||
    die "/etc/rancher/k3s/config.yaml is missing: K3s runs with command-line flags; move them into config.yaml first (docs/migration.md)"
# The next step (wait-cloud-init.sh) waits for the node's first boot: long over here, but an error that
# boot recorded would fail it (exit 1 of `cloud-init status`; 2 is "recoverable errors", which it accepts).
if command -v cloud-init >/dev/null 2>&1; then
    rc=0
    cloud-init status >/dev/null 2>&1 || rc=$?
    ((rc == 0 || rc == 2)) ||
        die "cloud-init reports an error of this node's first boot (exit $rc), which fails the wait-cloud-init step; see 'cloud-init status --long'"
fi
if [[ ! -f $config_dir/config.yaml.d/10-flannel-iface.yaml ]]; then
    say "no config.yaml.d/10-flannel-iface.yaml yet: install.sh adds it, and that restarts $unit once"
fi

# The checksum of what K3s reads now, taken as install.sh takes it (lib.sh: config_checksum).
mkdir -p "$(dirname "$checksum_file")"
printf '%s\n' "$(config_checksum)" >"$checksum_file"
say "adopted k3s $current ($unit running); recorded the checksum of its config.yaml as the one applied"
