#!/bin/sh
# Backup, step 1 (redis image): a consistent RDB snapshot of the live Redis into $SNAPSHOT_DIR/dump.rdb.
# `redis-cli --rdb` asks the server for the RDB it would send a replica, so it never touches the server's
# own files and works while AOF is on. The password comes from REDISCLI_AUTH, never the command line.
set -eu
: "${REDIS_HOST:?REDIS_HOST is not set}" "${SNAPSHOT_DIR:?SNAPSHOT_DIR is not set}"
port="${REDIS_PORT:-6379}"
partial="$SNAPSHOT_DIR/dump.rdb.partial"
redis-cli -h "$REDIS_HOST" -p "$port" --rdb "$partial" >/dev/null
# A truncated or corrupt transfer must never become the newest off-site snapshot.
if ! redis-check-rdb "$partial" >/dev/null; then
  echo "dump.sh: the snapshot from $REDIS_HOST:$port fails redis-check-rdb" >&2
  exit 1
fi
mv -f "$partial" "$SNAPSHOT_DIR/dump.rdb"
echo "dump.sh: snapshot of $REDIS_HOST:$port, $(wc -c <"$SNAPSHOT_DIR/dump.rdb") bytes"
