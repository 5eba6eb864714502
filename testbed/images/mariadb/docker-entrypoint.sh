#!/bin/bash
# As the official mysql image's entrypoint: reads *_FILE variables, initialises an empty
# /var/lib/mysql (root password, MYSQL_DATABASE, MYSQL_USER with MYSQL_PASSWORD granted on it)
# with the server listening only on its socket, then runs the server in the foreground as mysql.
set -euo pipefail

file_env() {
  local var="$1" file_var="${1}_FILE"
  if [ -z "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    export "$var=$(cat "${!file_var}")"
  fi
}

if [ "${1:-}" = mariadbd ] || [ "${1:-}" = mysqld ]; then
  file_env MYSQL_ROOT_PASSWORD
  file_env MYSQL_PASSWORD
  datadir=/var/lib/mysql
  mkdir -p "$datadir" /run/mysqld
  chown -R mysql:mysql "$datadir" /run/mysqld
  if [ ! -d "$datadir/mysql" ]; then
    : "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD(_FILE) is required to initialise the database}"
    echo "docker-entrypoint: initialising ${datadir}"
    gosu mysql mariadb-install-db --datadir="$datadir" --auth-root-authentication-method=normal --skip-test-db > /dev/null
    gosu mysql mariadbd --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    mariadb-admin --socket=/run/mysqld/init.sock --wait=60 --connect-timeout=2 ping > /dev/null 2>&1
    {
      echo "SET @@SESSION.SQL_LOG_BIN=0;"
      echo "DELETE FROM mysql.user WHERE user = '' OR (user = 'root' AND host NOT IN ('localhost'));"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(printf '%s' "$MYSQL_ROOT_PASSWORD" | sed "s/'/''/g")';"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(printf '%s' "$MYSQL_ROOT_PASSWORD" | sed "s/'/''/g")';"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
      fi
      if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
        echo "CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '$(printf '%s' "$MYSQL_PASSWORD" | sed "s/'/''/g")';"
        if [ -n "${MYSQL_DATABASE:-}" ]; then
          echo "GRANT ALL ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';"
        fi
      fi
      echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    mariadb-admin --socket=/run/mysqld/init.sock -uroot --password="$MYSQL_ROOT_PASSWORD" shutdown
    wait "$pid"
    echo "docker-entrypoint: initialised"
  fi
  exec gosu mysql "$@" --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 --skip-name-resolve
fi
exec "$@"
