#!/bin/sh
# Restore, step 1 (rclone image): downloads the snapshot $SNAPSHOT (a name from `rclone lsf`, e.g.
# redis-20261207T023000Z.rdb) from $OFFSITE to $SNAPSHOT_DIR/dump.rdb. The name is required: the newest
# snapshot is not the one to restore after Redis restarted empty (the next backup uploads that empty
# dataset as the newest). Without it, lists the snapshots there are and exits 3. Any rclone failure
# fails the step (set -e; nothing is piped, so no later command's status hides it).
set -eu
: "${SNAPSHOT_DIR:?SNAPSHOT_DIR is not set}" "${OFFSITE:?OFFSITE is not set}"
if [ -z "${SNAPSHOT:-}" ]; then
  listing="$SNAPSHOT_DIR/snapshots.txt"
  # The trailing / lists the folder without first probing an object of its name (which a key restricted to
  # the folder's prefix is refused).
  rclone lsf --files-only --include 'redis-*.rdb' "$OFFSITE/" >"$listing"
  echo "fetch.sh: SNAPSHOT is not set; the snapshots in $OFFSITE, newest last:" >&2
  sort "$listing" | tail -n 20 >&2
  exit 3
fi
case "$SNAPSHOT" in
  redis-*.rdb) ;;
  *) echo "fetch.sh: SNAPSHOT=$SNAPSHOT is not a snapshot name (redis-<UTC time>.rdb)" >&2; exit 2 ;;
esac
rclone copyto "$OFFSITE/$SNAPSHOT" "$SNAPSHOT_DIR/dump.rdb"
echo "fetch.sh: $OFFSITE/$SNAPSHOT, $(wc -c <"$SNAPSHOT_DIR/dump.rdb") bytes"
