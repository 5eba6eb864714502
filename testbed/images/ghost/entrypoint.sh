#!/bin/bash
# As the official ghost image's entrypoint: seeds the content directory's missing parts (themes,
# images, data, ...) from content.orig, hands it to `node`, then runs Ghost as `node`. Before
# that it exports every `<name>__FILE=<path>` variable as `<name>=<contents of path>` (Docker
# secrets, e.g. database__connection__password__FILE=/run/secrets/db_password).
set -euo pipefail

while IFS='=' read -r name _; do
  case "$name" in
    *__FILE)
      target="${name%__FILE}"
      file="${!name}"
      if [ -z "${!target:-}" ] && [ -r "$file" ]; then
        export "$target=$(cat "$file")"
      fi
      unset "$name"
      ;;
  esac
done < <(env)

if [ "$(id -u)" = 0 ] && [ "${1:-}" = node ]; then
  base=/var/lib/ghost/content.orig
  for dir in "$base"/*/ "$base"/themes/*/; do
    target="${GHOST_CONTENT}/${dir#"$base"/}"
    if [ ! -e "$target" ]; then
      mkdir -p "$(dirname "$target")"
      cp -a "$dir" "$target"
    fi
  done
  mkdir -p "${GHOST_CONTENT}/data" "${GHOST_CONTENT}/images" "${GHOST_CONTENT}/logs"
  chown -R node:node "$GHOST_CONTENT"
  exec gosu node "$@"
fi
exec "$@"
