#!/bin/sh
# Backup, step 2 (rclone image): copies $SNAPSHOT_DIR/dump.rdb to $OFFSITE as redis-<UTC time>.rdb and
# deletes snapshots older than $RETENTION. $OFFSITE is an rclone path ("offsite:<bucket>/<folder>"); the
# remote itself is configured by RCLONE_CONFIG_OFFSITE_* environment variables (B2's S3 API in the
# cluster, a local directory in tests/test_redis_backup.py).
set -eu
: "${SNAPSHOT_DIR:?SNAPSHOT_DIR is not set}" "${OFFSITE:?OFFSITE is not set}"
retention="${RETENTION:-14d}"
# Sortable by name: fetch.sh takes the last one.
name="redis-$(date -u +%Y%m%dT%H%M%SZ).rdb"
rclone copyto "$SNAPSHOT_DIR/dump.rdb" "$OFFSITE/$name"
# The folder with a trailing / (no probe of an object of its name); ages by upload time, without a HEAD per
# object to read rclone's own mtime metadata.
rclone delete --min-age "$retention" --use-server-modtime --include 'redis-*.rdb' "$OFFSITE/"
echo "upload.sh: $OFFSITE/$name"
