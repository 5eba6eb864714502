#!/bin/bash
# The Drone server under a small supervisor, as the Co-op Cloud recipe runs it plus the
# restore swap:
#   - every DRONE_<NAME>_FILE variable (a Docker secret) becomes DRONE_<NAME> with the file's
#     content (Drone 1.x reads no files itself); values are never echoed;
#   - DRONE_GITEA_SERVER loses a trailing slash (Drone joins paths onto it);
#   - `drone-server` runs as a child of this script, which a restore (`drone-backup restore`)
#     asks with SIGUSR1 to stop the server, swap the restored database in and start it again.
# With arguments, they run instead (the `runner` service: /bin/drone-agent).
set -euo pipefail

for var in $(compgen -e | grep -E '^DRONE_[A-Z0-9_]+_FILE$' || true); do
  file="${!var}"
  if [ ! -r "$file" ]; then
    echo "ccci-drone: $var names $file, which is not readable" >&2
    exit 1
  fi
  export "${var%_FILE}=$(cat "$file")"
  unset "$var"
done
if [ -n "${DRONE_GITEA_SERVER:-}" ]; then
  export DRONE_GITEA_SERVER="${DRONE_GITEA_SERVER%/}"
fi

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

DB="${DRONE_DATABASE_DATASOURCE:-/data/database.sqlite}"
SNAP="$(dirname "$DB")/backup"
PIDFILE=/run/ccci-drone.pid

# A restore left a consistent database copy to swap in (see drone-backup): only while no
# server runs.
apply_restore() {
  [ -e "${SNAP}/.restore-pending" ] || return 0
  rm -f "$DB" "$DB-journal" "$DB-wal" "$DB-shm"
  cp "${SNAP}/database.sqlite" "$DB.restoring"
  mv "$DB.restoring" "$DB"
  rm -f "${SNAP}/.restore-pending"
  echo "ccci-drone: restored database swapped in"
}

echo $$ > "$PIDFILE"
pid=""
restart=0
trap 'restart=1; [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true' USR1
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid"; exit 0' TERM INT

while :; do
  apply_restore
  echo "ccci-drone: starting drone-server $(cat /etc/ccci-image-tag)"
  /bin/drone-server &
  pid=$!
  rc=0
  # `wait` returns early when a trapped signal arrives; wait again until the server is gone.
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" && rc=0 || rc=$?
  done
  pid=""
  if [ "$restart" = 1 ]; then
    restart=0
    continue
  fi
  exit "$rc"
done
