#!/bin/bash
# backupbot hooks of the db service, as in the Co-op Cloud recipes that use postgres:
#   backup:  dump POSTGRES_DB to $PGDATA/backup.sql atomically (temp file + rename);
#   restore: allow only local connections, recreate POSTGRES_DB from backup.sql in one
#            transaction, then put the connection rules back.
set -euo pipefail

BACKUP_FILE="${PGDATA:-/var/lib/postgresql/data}/backup.sql"

backup() {
  pg_dump -U "${POSTGRES_USER}" "${POSTGRES_DB}" > "${BACKUP_FILE}.tmp"
  mv "${BACKUP_FILE}.tmp" "${BACKUP_FILE}"
}

restore() {
  cd "${PGDATA:-/var/lib/postgresql/data}"
  test -s "${BACKUP_FILE}"
  restore_config() {
    cat pg_hba.conf.bak > pg_hba.conf
    psql -U "${POSTGRES_USER}" -d postgres -qAtc 'SELECT pg_reload_conf()' > /dev/null
  }
  cp pg_hba.conf pg_hba.conf.bak
  echo "local all all trust" > pg_hba.conf
  psql -U "${POSTGRES_USER}" -d postgres -qAtc 'SELECT pg_reload_conf()' > /dev/null
  trap restore_config EXIT INT TERM
  psql -U "${POSTGRES_USER}" -d postgres -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"${POSTGRES_DB}\" WITH (FORCE)"
  createdb -U "${POSTGRES_USER}" "${POSTGRES_DB}"
  psql -U "${POSTGRES_USER}" -d "${POSTGRES_DB}" -v ON_ERROR_STOP=1 -q -1 -f "${BACKUP_FILE}" > /dev/null
}

"$@"
