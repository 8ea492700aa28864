#!/bin/sh
# Restore, step 2 (redis image): turns $SNAPSHOT_DIR/dump.rdb into the append-only files Redis loads
# from $DATA_DIR. With `appendonly yes` Redis ignores a lone dump.rdb and starts empty (Redis 7
# loads only the AOF when AOF is on: https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/
# "How I can switch to AOF, if I'm currently using dump.rdb snapshots?"), so a temporary server loads
# the RDB with AOF off, CONFIG SET appendonly yes rewrites the dataset into a fresh AOF, and a clean
# SHUTDOWN leaves both behind. Refuses a $DATA_DIR that already holds an AOF unless FORCE=yes.
#
# Redis must be stopped: its volume is ReadWriteOnce, which is per node, not per pod, so a restore pod on
# Redis's node could write under a running Redis. The Job's required pod anti-affinity keeps it off any
# node with a Redis pod (and the scheduler keeps a new Redis pod off its node); here, Redis answering at
# $REDIS_HOST (anything, NOAUTH included) refuses the restore before a file is touched. The headless Service
# lists Ready pods only, so a Redis still starting is not seen here: `make redis-restore` waits until the
# pod is gone before it starts this Job.
set -eu
: "${SNAPSHOT_DIR:?SNAPSHOT_DIR is not set}" "${DATA_DIR:?DATA_DIR is not set}"
port="${RESTORE_PORT:-6380}"
snapshot="$SNAPSHOT_DIR/dump.rdb"
# The temporary server has no password: a client password would make AUTH fail.
unset REDISCLI_AUTH
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
field() { cli info persistence | tr -d '\r' | sed -n "s/^$1://p"; }
# Keys in every database (db0, db1, ...), not DBSIZE's current one.
keys() { cli info keyspace | tr -d '\r' | sed -n 's/^db[0-9]*:keys=\([0-9]*\),.*/\1/p' | awk '{ n += $1 } END { print n + 0 }'; }

if [ -n "${REDIS_HOST:-}" ] && reply="$(timeout 10 redis-cli -h "$REDIS_HOST" -p "${REDIS_PORT:-6379}" ping 2>/dev/null)"; then
  echo "restore.sh: Redis answers at $REDIS_HOST ($reply): scale it to 0 first; nothing changed" >&2
  exit 5
fi
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
loaded="$(keys)"
# redis-cli exits 0 on an error reply: read the reply.
answer="$(cli config set appendonly yes | tr -d '\r')"
if [ "$answer" != OK ]; then
  echo "restore.sh: CONFIG SET appendonly yes answered: $answer" >&2
  kill "$server" 2>/dev/null || true
  exit 1
fi
tries=0
until [ "$(field aof_rewrites)" -ge 1 ] && [ "$(field aof_rewrite_in_progress)" = 0 ] \
  && [ "$(field aof_rewrite_scheduled)" = 0 ]; do
  tries=$((tries + 1))
  # Not `kill -0`: a killed child the shell has not reaped yet still passes it.
  if [ "$(cli ping 2>/dev/null)" != PONG ]; then
    # Killed mid-rewrite: the container's memory limit (components/k8s/redis_backup.py sizes it) or a crash.
    echo "restore.sh: the temporary redis-server died during the AOF rewrite" >&2
    tail -n 20 "$SNAPSHOT_DIR/restore-server.log" >&2
    exit 1
  fi
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
# A server killed (OOM) during the rewrite leaves no clean shutdown: its status says so.
if ! wait "$server"; then
  echo "restore.sh: the temporary redis-server did not shut down cleanly" >&2
  tail -n 20 "$SNAPSHOT_DIR/restore-server.log" >&2
  exit 1
fi
echo "restore.sh: $loaded keys restored into $DATA_DIR"
