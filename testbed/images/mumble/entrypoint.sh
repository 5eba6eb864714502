#!/bin/bash
# Starts the Mumble server the way the official mumblevoip/mumble-server image does, from
# Docker secrets instead of plain variables:
#   MUMBLE_SERVER_PASSWORD_FILE     default /run/secrets/server_password (absent: no password)
#   MUMBLE_SUPERUSER_PASSWORD_FILE  default /run/secrets/superuser_password (absent: unchanged)
#   MUMBLE_CONFIG_<KEY>=<value>     any other ini key, spelled as the packaged sample ini does
#                                   (autobanAttempts), else lowercased: MUMBLE_CONFIG_USERS=100
# The ini is rendered outside the volume (it holds the server password), the SuperUser
# password is set with `-supw` before the server starts, and the database is
# /data/murmur.sqlite, owned by the server's own user (it drops root for `mumble-server`).
#
# The server runs as a child of this script, which stays PID 1: `mumble-backup restore`
# leaves the restored database at /data/restore.sqlite and sends SIGUSR1; the server is
# stopped, the database swapped in and the server started again, without the task restarting.
set -euo pipefail

DATA=/data
DB="$DATA/murmur.sqlite"
INI=/etc/mumble-ccci/mumble-server.ini
SERVER=/usr/local/bin/ccci-mumble-server

ini_value() {
  local v="${1//\\/\\\\}"
  printf '"%s"' "${v//\"/\\\"}"
}

# The server reads its ini keys case-sensitively (autobanAttempts, not autobanattempts): a
# key is spelled as the sample ini the package ships spells it, else lowercased.
ini_key() {
  local want="${1,,}" found
  found=$(grep -hoE '^[;#]?[[:space:]]*[A-Za-z]+[[:space:]]*=' /etc/mumble-server.ini /etc/mumble/mumble-server.ini 2>/dev/null \
    | sed -E 's/^[;#]?[[:space:]]*//; s/[[:space:]]*=$//' | awk -v w="$want" 'tolower($0) == w { print; exit }')
  echo "${found:-$want}"
}

render_ini() {
  local pwfile="${MUMBLE_SERVER_PASSWORD_FILE:-/run/secrets/server_password}" key var
  umask 027
  {
    echo "database=$DB"
    echo "port=64738"
    echo "host="
    echo "ice="
    echo "icesecretwrite="
    echo "logfile="
    echo "pidfile="
    echo "uname=mumble-server"
    if [ -r "$pwfile" ]; then
      echo "serverpassword=$(ini_value "$(cat "$pwfile")")"
    fi
    for var in $(compgen -e | grep '^MUMBLE_CONFIG_' || true); do
      key="${var#MUMBLE_CONFIG_}"
      echo "$(ini_key "$key")=$(ini_value "${!var}")"
    done
  } > "$INI.tmp"
  chown root:mumble-server "$INI.tmp"
  mv "$INI.tmp" "$INI"
  umask 022
}

# A restore left a database to swap in (see mumble-backup): only while no server runs.
apply_restore() {
  if [ -f "$DATA/restore.sqlite" ]; then
    rm -f "$DB" "$DB-journal" "$DB-wal" "$DB-shm"
    mv "$DATA/restore.sqlite" "$DB"
    echo "mumble-entrypoint: restored database swapped in"
  fi
}

set_superuser_password() {
  local file="${MUMBLE_SUPERUSER_PASSWORD_FILE:-/run/secrets/superuser_password}"
  if [ -r "$file" ]; then
    # -supw starts the server's database layer, sets the password and exits; the password is
    # never echoed (the server logs only that it was changed).
    local out rc=0
    out="$("$SERVER" -ini "$INI" -supw "$(cat "$file")" 2>&1)" || rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "mumble-entrypoint: setting the SuperUser password failed (exit $rc):" >&2
      printf '%s\n' "$out" | grep -v -i 'password' >&2 || true
      exit 1
    fi
    echo "mumble-entrypoint: SuperUser password set from $file"
  fi
}

mkdir -p "$DATA"
chown mumble-server:mumble-server "$DATA"
render_ini

pid=""
restart=0
trap 'restart=1; [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true' USR1
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid"; exit 0' TERM INT

while :; do
  apply_restore
  chown -R mumble-server:mumble-server "$DATA"
  set_superuser_password
  chown -R mumble-server:mumble-server "$DATA"
  echo "mumble-entrypoint: starting $(basename "$(readlink -f "$SERVER")") $(cat /etc/ccci-mumble-package)"
  "$SERVER" -ini "$INI" -fg &
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
