#!/bin/sh
# Restore, step 1 (rclone image): downloads the newest snapshot in $OFFSITE (or $SNAPSHOT, a name
# from `rclone lsf`) to $SNAPSHOT_DIR/dump.rdb. Exits 3 when the folder holds no snapshot.
set -eu
: "${SNAPSHOT_DIR:?SNAPSHOT_DIR is not set}" "${OFFSITE:?OFFSITE is not set}"
name="${SNAPSHOT:-}"
if [ -z "$name" ]; then
  name="$(rclone lsf --files-only --include 'redis-*.rdb' "$OFFSITE" | sort | tail -n 1)"
fi
if [ -z "$name" ]; then
  echo "fetch.sh: no redis-*.rdb snapshot in $OFFSITE" >&2
  exit 3
fi
rclone copyto "$OFFSITE/$name" "$SNAPSHOT_DIR/dump.rdb"
echo "fetch.sh: $OFFSITE/$name"
