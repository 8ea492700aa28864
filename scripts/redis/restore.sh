#!/bin/sh
# Restore, step 2 (redis image): turns $SNAPSHOT_DIR/dump.rdb into the append-only files Redis loads
# from $DATA_DIR. With `appendonly yes` Redis ignores a lone dump.rdb and starts empty (Redis 7
# loads only the AOF when AOF is on: https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/
# "How I can switch to AOF, if I'm currently using dump.rdb snapshots?"), so a temporary server loads
# the RDB with AOF off, CONFIG SET appendonly yes rewrites the dataset into a fresh AOF, and a clean
# SHUTDOWN leaves both behind. Refuses a $DATA_DIR that already holds an AOF unless FORCE=yes.
set -eu
: "${SNAPSHOT_DIR:?SNAPSHOT_DIR is not set}" "${DATA_DIR:?DATA_DIR is not set}"
port="${RESTORE_PORT:-6380}"
snapshot="$SNAPSHOT_DIR/dump.rdb"
# The temporary server has no password: a client password would make AUTH fail.
unset REDISCLI_AUTH
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
field() { cli info persistence | tr -d '\r' | sed -n "s/^$1://p"; }

if ! redis-check-rdb "$snapshot" >/dev/null; then
  echo "restore.sh: $snapshot fails redis-check-rdb" >&2
  exit 1
fi
if [ -e "$DATA_DIR/appendonlydir" ] && [ "${FORCE:-no}" != yes ]; then
  echo "restore.sh: $DATA_DIR already holds an AOF; set FORCE=yes to replace it" >&2
  exit 4
fi
rm -rf "$DATA_DIR/appendonlydir"
cp "$snapshot" "$DATA_DIR/dump.rdb"
redis-server --port "$port" --bind 127.0.0.1 --dir "$DATA_DIR" --dbfilename dump.rdb \
  --appendonly no --save '' --daemonize no >"$SNAPSHOT_DIR/restore-server.log" 2>&1 &
server=$!
tries=0
until [ "$(cli ping 2>/dev/null)" = PONG ]; do
  tries=$((tries + 1))
  if [ "$tries" -gt 600 ] || ! kill -0 "$server" 2>/dev/null; then
    echo "restore.sh: the temporary redis-server did not come up" >&2
    cat "$SNAPSHOT_DIR/restore-server.log" >&2
    kill "$server" 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done
keys="$(cli dbsize)"
cli config set appendonly yes >/dev/null
tries=0
until [ "$(field aof_rewrites)" -ge 1 ] && [ "$(field aof_rewrite_in_progress)" = 0 ] \
  && [ "$(field aof_rewrite_scheduled)" = 0 ]; do
  tries=$((tries + 1))
  if [ "$tries" -gt 1200 ]; then
    echo "restore.sh: the AOF rewrite did not finish" >&2
    kill "$server" 2>/dev/null || true
    exit 1
  fi
  sleep 0.5
done
if [ "$(field aof_last_bgrewrite_status)" != ok ]; then
  echo "restore.sh: the AOF rewrite failed" >&2
  kill "$server" 2>/dev/null || true
  exit 1
fi
cli shutdown save >/dev/null 2>&1 || true
wait "$server" || true
echo "restore.sh: $keys keys restored into $DATA_DIR"
