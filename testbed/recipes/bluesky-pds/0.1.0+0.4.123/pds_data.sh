#!/bin/bash
# The PDS's data (/pds) for backupbot and its restore:
#   backup:  a consistent copy of every SQLite database (account, sequencer, DID cache, each
#            account's repo store) into /pds/backup, each copied with SQLite's online backup
#            (readers and writers may go on), then renamed into place; blobs (/pds/blocks) are
#            written once under their CID and archived as they are.
#   restore: after backupbot unpacked /pds/backup and /pds/blocks, stages the copies: the
#            running PDS keeps its open databases, so they are put in place by the next start
#            of the service (restart it after a restore).
#   start:   applies a staged restore (the databases and their WAL/SHM files are replaced by
#            the copies), then runs the image's entrypoint with the remaining arguments.
set -euo pipefail

DATA="${PDS_DATA_DIRECTORY:-/pds}"
SNAP="${DATA}/backup"
STAGED="${SNAP}/.restore-pending"

databases() {
  find "$1" -mindepth 1 -name backup -prune -o -name blocks -prune -o -type f -name '*.sqlite' -printf '%P\n' | sort
}

backup() {
  rm -rf "${SNAP}.tmp"
  mkdir -p "${SNAP}.tmp"
  databases "${DATA}" | while read -r db; do
    mkdir -p "$(dirname "${SNAP}.tmp/${db}")"
    sqlite3 "${DATA}/${db}" ".timeout 10000" ".backup '${SNAP}.tmp/${db}'"
  done
  test -s "${SNAP}.tmp/account.sqlite"
  rm -rf "${SNAP}"
  mv "${SNAP}.tmp" "${SNAP}"
}

restore() {
  test -s "${SNAP}/account.sqlite"
  touch "${STAGED}"
}

start() {
  if [ -e "${STAGED}" ]; then
    databases "${DATA}" | while read -r db; do
      rm -f "${DATA}/${db}" "${DATA}/${db}-wal" "${DATA}/${db}-shm"
    done
    databases "${SNAP}" | while read -r db; do
      mkdir -p "$(dirname "${DATA}/${db}")"
      cp "${SNAP}/${db}" "${DATA}/${db}.restoring"
      mv "${DATA}/${db}.restoring" "${DATA}/${db}"
    done
    rm -f "${STAGED}"
    echo "pds_data: restored the databases from ${SNAP}"
  fi
  exec /usr/local/bin/pds-entrypoint.sh "$@"
}

cmd="$1"
shift
"$cmd" "$@"
