#!/bin/sh
# Fake K3s installer (run with sh, as the real one): records its environment, "installs" the fake k3s
# binary and uninstall script, and starts k3s unless INSTALL_K3S_SKIP_START=true, like the real one.
set -eu
echo "installer INSTALL_K3S_VERSION=${INSTALL_K3S_VERSION:-} INSTALL_K3S_EXEC=${INSTALL_K3S_EXEC:-} INSTALL_K3S_SKIP_START=${INSTALL_K3S_SKIP_START:-}" >>"$FAKE_STATE/calls.log"
printf '%s\n' "$INSTALL_K3S_VERSION" >"$FAKE_STATE/version"
mkdir -p "$FAKE_INSTALL_BIN"
for f in k3s k3s-uninstall.sh; do
    cp "$FAKE_RELEASE/$f" "$FAKE_INSTALL_BIN/$f"
    chmod 0755 "$FAKE_INSTALL_BIN/$f"
done
systemctl daemon-reload
systemctl enable k3s
if [ "${INSTALL_K3S_SKIP_START:-}" != true ]; then
    systemctl restart k3s
fi
