#!/bin/bash
# Reads Keycloak's passwords from files (Docker secrets) into the variables kc.sh reads,
# as the Co-op Cloud keycloak recipe's entrypoint does, then waits (bounded) for the
# database to accept connections and starts Keycloak.
#   KC_BOOTSTRAP_ADMIN_PASSWORD_FILE  default /run/secrets/admin_password
#   KC_DB_PASSWORD_FILE               default /run/secrets/db_password
#   KC_WAIT_FOR=host:port, KC_WAIT_FOR_TIMEOUT (seconds, default 120)
set -euo pipefail

read_secret() {
  local var="$1" file="$2"
  if [ -z "${!var:-}" ] && [ -r "$file" ]; then
    export "$var=$(cat "$file")"
  fi
}
read_secret KC_BOOTSTRAP_ADMIN_PASSWORD "${KC_BOOTSTRAP_ADMIN_PASSWORD_FILE:-/run/secrets/admin_password}"
read_secret KC_DB_PASSWORD "${KC_DB_PASSWORD_FILE:-/run/secrets/db_password}"

if [ -n "${KC_WAIT_FOR:-}" ]; then
  host="${KC_WAIT_FOR%:*}" port="${KC_WAIT_FOR##*:}"
  deadline=$((SECONDS + ${KC_WAIT_FOR_TIMEOUT:-120}))
  until (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "kc-entrypoint: ${KC_WAIT_FOR} not reachable after ${KC_WAIT_FOR_TIMEOUT:-120}s" >&2
      exit 1
    fi
    sleep 1
  done
fi

exec /opt/keycloak/bin/kc.sh "$@"
