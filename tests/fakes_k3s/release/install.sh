#!/bin/sh
# Fake K3s installer (run with sh, as the real one): records its environment, "installs" the fake k3s
# binary and the uninstall script, and starts the unit unless INSTALL_K3S_SKIP_START=true, like the real
# one. As the real one, it names the unit after the command: k3s for server, k3s-agent for agent (and the
# uninstall script after the unit: k3s-uninstall.sh, k3s-agent-uninstall.sh).
set -eu
echo "installer INSTALL_K3S_VERSION=${INSTALL_K3S_VERSION:-} INSTALL_K3S_EXEC=${INSTALL_K3S_EXEC:-} INSTALL_K3S_SKIP_START=${INSTALL_K3S_SKIP_START:-}" >>"$FAKE_STATE/calls.log"
case "${INSTALL_K3S_EXEC:-server}" in
agent*) unit=k3s-agent ;;
*) unit=k3s ;;
esac
printf '%s\n' "$INSTALL_K3S_VERSION" >"$FAKE_STATE/version"
mkdir -p "$FAKE_INSTALL_BIN"
cp "$FAKE_RELEASE/k3s" "$FAKE_INSTALL_BIN/k3s"
# State: installer_killed makes the step die here, as a dropped session or a kill would: the binary is in
# place, the uninstall script and the unit are not (the real installer writes them after the binary).
if [ -e "$FAKE_STATE/installer_killed" ]; then
    chmod 0755 "$FAKE_INSTALL_BIN/k3s"
    echo "installer killed after the binary" >>"$FAKE_STATE/calls.log"
    kill -KILL "$PPID"
    exit 137
fi
printf '%s\n' "$unit" >"$FAKE_STATE/unit"
cp "$FAKE_RELEASE/k3s-uninstall.sh" "$FAKE_INSTALL_BIN/$unit-uninstall.sh"
chmod 0755 "$FAKE_INSTALL_BIN/k3s" "$FAKE_INSTALL_BIN/$unit-uninstall.sh"
systemctl daemon-reload
systemctl enable "$unit"
if [ "${INSTALL_K3S_SKIP_START:-}" != true ]; then
    systemctl restart "$unit"
fi
