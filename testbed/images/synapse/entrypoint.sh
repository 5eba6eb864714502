#!/bin/bash
# Starts Synapse as the upstream image does in "run" mode with an operator's config:
# as root, hands /data to the synapse user and drops to it; then makes any missing key
# (the signing key, on first start) and execs the homeserver with $SYNAPSE_CONFIG_PATH.
# A PostgreSQL `host:port` in SYNAPSE_WAIT_FOR is waited for first (bounded by
# SYNAPSE_WAIT_FOR_TIMEOUT seconds, default 120).
set -euo pipefail

config="${SYNAPSE_CONFIG_PATH:-/data/homeserver.yaml}"

if [ "$(id -u)" = "0" ]; then
  mkdir -p /data/media_store
  chown synapse:synapse /data /data/media_store
  exec gosu synapse "$BASH_SOURCE" "$@"
fi

if [ -n "${SYNAPSE_WAIT_FOR:-}" ]; then
  host="${SYNAPSE_WAIT_FOR%:*}" port="${SYNAPSE_WAIT_FOR##*:}"
  deadline=$((SECONDS + ${SYNAPSE_WAIT_FOR_TIMEOUT:-120}))
  until (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "synapse-entrypoint: ${SYNAPSE_WAIT_FOR} not reachable after ${SYNAPSE_WAIT_FOR_TIMEOUT:-120}s" >&2
      exit 1
    fi
    sleep 1
  done
fi

python -m synapse.app.homeserver --config-path "$config" --generate-keys
exec python -m synapse.app.homeserver --config-path "$config" "$@"
