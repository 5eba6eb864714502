#!/bin/bash
# backupbot hooks of the db service, as in the Co-op Cloud ghost recipe (mysqldump of the
# `ghost` database, gzipped into the mysql volume; restored with `gunzip | mysql`), with
# pipefail so that a failed dump or restore fails the hook instead of passing silently:
#   backup:  dump MYSQL_DATABASE to /var/lib/mysql/backup.sql.gz atomically (temp file + rename);
#   restore: recreate MYSQL_DATABASE from backup.sql.gz.
set -euo pipefail

BACKUP_FILE=/var/lib/mysql/backup.sql.gz
ROOT_PASSWORD="$(cat /run/secrets/db_root_password)"
export MYSQL_PWD="${ROOT_PASSWORD}"

backup() {
  mysqldump -uroot --single-transaction --routines --triggers "${MYSQL_DATABASE}" | gzip > "${BACKUP_FILE}.tmp"
  mv "${BACKUP_FILE}.tmp" "${BACKUP_FILE}"
}

restore() {
  test -s "${BACKUP_FILE}"
  mysql -uroot -e "DROP DATABASE IF EXISTS \`${MYSQL_DATABASE}\`; CREATE DATABASE \`${MYSQL_DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
  gunzip -c "${BACKUP_FILE}" | mysql -uroot "${MYSQL_DATABASE}"
}

"$@"
