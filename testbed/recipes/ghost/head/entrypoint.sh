#!/bin/bash
# The app's entrypoint (a recipe config): Ghost exits when its database does not answer, and
# MariaDB listens on 3306 only once initialised; wait for db:3306 (at most 180 s), then run the
# image's entrypoint with the command.
set -euo pipefail
deadline=$((SECONDS + 180))
until (exec 3<>/dev/tcp/db/3306) 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "ghost: db:3306 not reachable after 180 s" >&2
    exit 1
  fi
  sleep 1
done
exec docker-entrypoint.sh "$@"
