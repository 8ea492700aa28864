#!/usr/bin/env bash
# Fake k3s-uninstall.sh (installed as k3s-agent-uninstall.sh on an agent): stops k3s and removes the
# binary and itself, as the real one does.
set -euo pipefail
name=$(basename "$0")
echo "$name $*" >>"$FAKE_STATE/calls.log"
# State: uninstall_fails makes it fail before changing anything.
if [[ -e $FAKE_STATE/uninstall_fails ]]; then
    echo "rm: cannot remove '/var/lib/rancher/k3s': Device or resource busy" >&2
    exit 1
fi
rm -f "$FAKE_STATE/active" "$FAKE_STATE/version" "$FAKE_STATE/running_version" "$FAKE_STATE/unit"
rm -f "$FAKE_INSTALL_BIN/k3s" "$FAKE_INSTALL_BIN/$name"
