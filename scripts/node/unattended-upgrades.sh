#!/usr/bin/env bash
# Makes sure a running node applies security updates by itself (the same state cloud-init gives a new
# node): the packages, the apt periodic timers, and the settings the stack wrote next to this script.
# Reboots are kured's: unattended-upgrades only leaves /var/run/reboot-required behind.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# unattended-upgrades itself may hold the dpkg lock for a while: wait instead of failing.
apt_get() { apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
if installed unattended-upgrades && installed update-notifier-common; then
  echo "unattended-upgrades: packages present"
else
  apt_get update
  apt_get install -y --no-install-recommends unattended-upgrades update-notifier-common
fi
systemctl enable --now apt-daily.timer apt-daily-upgrade.timer
# What apt will actually use, after every file in apt.conf.d is merged.
if ! apt-config dump | grep -qx 'APT::Periodic::Unattended-Upgrade "1";'; then
  echo "unattended-upgrades: APT::Periodic::Unattended-Upgrade is not 1 after merging apt.conf.d" >&2
  exit 1
fi
if ! apt-config dump | grep -qx 'Unattended-Upgrade::Automatic-Reboot "false";'; then
  echo "unattended-upgrades: Automatic-Reboot must stay false (kured reboots)" >&2
  exit 1
fi
echo "unattended-upgrades: enabled, security origins, reboots left to kured"
