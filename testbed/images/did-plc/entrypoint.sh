#!/bin/bash
# Builds PLC_DB_URL from PLC_DB_HOST/PLC_DB_USER/PLC_DB_NAME and the password in
# PLC_DB_PASSWORD_FILE (a Docker secret), waits (bounded) for the database, and runs the command.
set -euo pipefail
if [ -z "${PLC_DB_URL:-}" ] && [ -n "${PLC_DB_HOST:-}" ]; then
  password="$(cat "${PLC_DB_PASSWORD_FILE:-/run/secrets/db_password}")"
  encoded="$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$password")"
  export PLC_DB_URL="postgresql://${PLC_DB_USER:-plc}:${encoded}@${PLC_DB_HOST}:${PLC_DB_PORT:-5432}/${PLC_DB_NAME:-plc}"
  deadline=$((SECONDS + ${PLC_WAIT_TIMEOUT:-120}))
  until (exec 3<>"/dev/tcp/${PLC_DB_HOST}/${PLC_DB_PORT:-5432}") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "plc-entrypoint: ${PLC_DB_HOST}:${PLC_DB_PORT:-5432} not reachable" >&2
      exit 1
    fi
    sleep 1
  done
fi
exec "$@"
