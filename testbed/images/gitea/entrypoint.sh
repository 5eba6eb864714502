#!/bin/bash
# The official rootless image's entrypoint (docker-entrypoint.sh -> docker-setup.sh: app.ini
# from /etc/templates/app.ini, then every GITEA__<section>__<KEY> variable applied with
# `gitea config edit-ini --apply-env`, GITEA__<section>__<KEY>__FILE read from a file: Docker
# secrets), plus what the Co-op Cloud recipe does around it:
#   - the database is migrated (`gitea migrate`) before anything uses it;
#   - the site administrator is created if missing: GITEA_ADMIN_USERNAME, GITEA_ADMIN_EMAIL
#     and the password read from GITEA_ADMIN_PASSWORD_FILE (a Docker secret), never echoed;
#     an existing user of that name is left as it is (idempotent across restarts, upgrades
#     and restores);
#   - `gitea web` runs as a child of this script, which a restore (`gitea-backup restore`)
#     asks with SIGUSR1 to stop the server, swap the restored database in and start it again.
# With arguments, they run instead (as the official entrypoint does).
set -euo pipefail

GITEA=/usr/local/bin/gitea
DATA="${GITEA_WORK_DIR:-/var/lib/gitea}"
DB="${DATA}/data/gitea.db"
SNAP="${DATA}/backup"
PIDFILE="${GITEA_TEMP:-/tmp/gitea}/supervisor.pid"

/usr/local/bin/docker-setup.sh || { echo 'docker setup failed' >&2; exit 1; }

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

bootstrap_admin() {
  local user="${GITEA_ADMIN_USERNAME:-}" file="${GITEA_ADMIN_PASSWORD_FILE:-}"
  [ -n "$user" ] || return 0
  if [ -z "$file" ] || [ ! -r "$file" ]; then
    echo "ccci-gitea: GITEA_ADMIN_USERNAME=$user but GITEA_ADMIN_PASSWORD_FILE ($file) is not readable" >&2
    exit 1
  fi
  local admins
  admins="$("$GITEA" admin user list --admin | awk 'NR > 1 { print $2 }')"
  if printf '%s\n' "$admins" | grep -qxF "$user"; then
    echo "ccci-gitea: administrator $user exists"
    return 0
  fi
  local out rc=0
  out="$("$GITEA" admin user create --admin --username "$user" --email "${GITEA_ADMIN_EMAIL:-$user@localhost}" \
    --password "$(cat "$file")" --must-change-password=false 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "ccci-gitea: creating the administrator $user failed (exit $rc):" >&2
    printf '%s\n' "$out" | grep -vi 'password' >&2 || true
    exit 1
  fi
  echo "ccci-gitea: administrator $user created"
}

# A restore left a consistent database copy to swap in (see gitea-backup): only while no
# server runs.
apply_restore() {
  [ -e "${SNAP}/.restore-pending" ] || return 0
  rm -f "$DB" "$DB-journal" "$DB-wal" "$DB-shm"
  cp "${SNAP}/gitea.db" "$DB.restoring"
  mv "$DB.restoring" "$DB"
  if [ -d "${SNAP}/data" ]; then
    cp -a "${SNAP}/data/." "${DATA}/data/"
  fi
  rm -f "${SNAP}/.restore-pending"
  echo "ccci-gitea: restored database swapped in"
}

"$GITEA" migrate
bootstrap_admin

echo $$ > "$PIDFILE"
pid=""
restart=0
trap 'restart=1; [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true' USR1
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid"; exit 0' TERM INT

while :; do
  apply_restore
  echo "ccci-gitea: starting gitea $(cat /etc/ccci-image-tag)"
  "$GITEA" web &
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
