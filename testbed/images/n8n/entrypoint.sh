#!/bin/bash
# The entrypoint of the official n8nio/n8n image (docker-entrypoint.sh), plus Docker secrets:
# for each VAR of N8N_ENCRYPTION_KEY and DB_POSTGRESDB_PASSWORD, VAR_FILE (e.g.
# /run/secrets/encryption_key) is read into VAR when VAR is not set, and VAR_FILE is then
# dropped, so n8n sees one source of each value (without a trailing newline). Then n8n runs
# with the given arguments (`start` when none), as the official image does.
set -euo pipefail

for var in N8N_ENCRYPTION_KEY DB_POSTGRESDB_PASSWORD; do
  file_var="${var}_FILE"
  file="${!file_var:-}"
  if [ -n "$file" ]; then
    if [ -z "${!var:-}" ]; then
      if [ ! -r "$file" ]; then
        echo "n8n entrypoint: $file_var=$file is not readable" >&2
        exit 1
      fi
      export "$var=$(cat "$file")"
    fi
    unset "$file_var"
  fi
done

if [ "$#" -gt 0 ]; then
  exec n8n "$@"
fi
exec n8n start
