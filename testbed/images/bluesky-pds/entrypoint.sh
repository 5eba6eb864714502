#!/bin/bash
# Reads the PDS's secrets from files (Docker secrets) into the variables @atproto/pds reads:
#   PDS_JWT_SECRET_FILE          default /run/secrets/jwt_secret
#   PDS_ADMIN_PASSWORD_FILE      default /run/secrets/admin_password
#   PDS_PLC_ROTATION_KEY_FILE    default /run/secrets/plc_rotation_key: any secret string; the
#                                secp256k1 key is its SHA-256 (32 bytes, hex), so a generated
#                                secret of any alphabet makes a valid, stable key.
# then creates the blob directory and runs the command.
set -euo pipefail

read_secret() {
  local var="$1" file="$2"
  if [ -z "${!var:-}" ] && [ -r "$file" ]; then
    export "$var=$(cat "$file")"
  fi
}
read_secret PDS_JWT_SECRET "${PDS_JWT_SECRET_FILE:-/run/secrets/jwt_secret}"
read_secret PDS_ADMIN_PASSWORD "${PDS_ADMIN_PASSWORD_FILE:-/run/secrets/admin_password}"
key_file="${PDS_PLC_ROTATION_KEY_FILE:-/run/secrets/plc_rotation_key}"
if [ -z "${PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX:-}" ] && [ -r "$key_file" ]; then
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX="$(sha256sum < "$key_file" | cut -d' ' -f1)"
  export PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX
fi
mkdir -p "${PDS_DATA_DIRECTORY:-/pds}" "${PDS_BLOBSTORE_DISK_LOCATION:-/pds/blocks}"
exec "$@"
