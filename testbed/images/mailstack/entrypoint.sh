#!/bin/bash
# Starts the mail stack for the mail domain $DOMAIN, the way Mailu's containers start theirs:
#   DOMAIN                  the mail domain (Mailu: DOMAIN); also the TLS certificate's name;
#   INITIAL_ADMIN_ACCOUNT   the first mailbox's local part (default admin), in
#   INITIAL_ADMIN_DOMAIN    this domain (default $DOMAIN), with the password in
#   INITIAL_ADMIN_PW_FILE   (default /run/secrets/admin_password; Mailu: INITIAL_ADMIN_PW);
#   ALIASES                 `local=target,...`: local@$DOMAIN delivers to target (a local part
#                           of $DOMAIN or a full address); Mailu keeps aliases in its admin DB.
# The certificate (/certs, a volume) is made at first start, self-signed for $DOMAIN, and kept.
# rspamd, Dovecot and Postfix run as children of this script; when one exits, the others are
# stopped and the container exits with its status (Swarm restarts it).
set -euo pipefail

: "${DOMAIN:?DOMAIN must name the mail domain}"
ACCOUNT="${INITIAL_ADMIN_ACCOUNT:-admin}"
ADMIN_DOMAIN="${INITIAL_ADMIN_DOMAIN:-$DOMAIN}"
PW_FILE="${INITIAL_ADMIN_PW_FILE:-/run/secrets/admin_password}"
log() { echo "mailstack: $*"; }

# --- TLS ---------------------------------------------------------------------------------
mkdir -p /certs
if [ ! -s /certs/cert.pem ] || [ ! -s /certs/key.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$DOMAIN" \
    -addext "subjectAltName=DNS:$DOMAIN" -keyout /certs/key.pem.tmp -out /certs/cert.pem.tmp 2>/dev/null
  mv /certs/key.pem.tmp /certs/key.pem
  mv /certs/cert.pem.tmp /certs/cert.pem
  log "made a self-signed certificate for $DOMAIN"
fi
chmod 600 /certs/key.pem
chmod 644 /certs/cert.pem

# --- Postfix's configuration (before its maps are built) ---------------------------------------
source /etc/mailstack/postfix.sh

# --- accounts ------------------------------------------------------------------------------
[ -r "$PW_FILE" ] || { echo "mailstack: no admin password at $PW_FILE" >&2; exit 1; }
address="${ACCOUNT,,}@${ADMIN_DOMAIN,,}"
umask 077
hash="$(openssl passwd -6 -stdin < "$PW_FILE")"
echo "$address:{SHA512-CRYPT}$hash:5000:5000::/var/mail/${ADMIN_DOMAIN,,}/${ACCOUNT,,}::" > /etc/dovecot/users
chown root:dovecot /etc/dovecot/users
chmod 640 /etc/dovecot/users
umask 022
echo "$address ${ADMIN_DOMAIN,,}/${ACCOUNT,,}/" > /etc/postfix/vmailbox
: > /etc/postfix/virtual
IFS=',' read -r -a aliases <<< "${ALIASES:-}"
for entry in "${aliases[@]}"; do
  entry="${entry// /}"
  [ -n "$entry" ] || continue
  local_part="${entry%%=*}" target="${entry#*=}"
  [ "$local_part" != "$entry" ] && [ -n "$target" ] || { echo "mailstack: ALIASES entry '$entry' is not local=target" >&2; exit 1; }
  case "$target" in *@*) ;; *) target="$target@$DOMAIN" ;; esac
  echo "${local_part,,}@${DOMAIN,,} ${target,,}" >> /etc/postfix/virtual
done
postmap /etc/postfix/vmailbox
postmap /etc/postfix/virtual
log "mailbox $address, $(wc -l < /etc/postfix/virtual) alias(es)"

mkdir -p /var/mail
chown -R vmail:vmail /var/mail

# --- daemons -------------------------------------------------------------------------------
cp /etc/mailstack/dovecot.conf /etc/dovecot/dovecot.conf
mkdir -p /etc/rspamd/local.d /var/lib/rspamd /run/rspamd
cp /etc/mailstack/rspamd-options.inc /etc/rspamd/local.d/options.inc
chown _rspamd:_rspamd /var/lib/rspamd /run/rspamd
postfix set-permissions >/dev/null 2>&1 || true
postfix check

pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap 'stop; exit 0' TERM INT

rspamd -f -u _rspamd -g _rspamd --var=LOCAL_CONFDIR=/etc/rspamd --var=DBDIR=/var/lib/rspamd --var=RUNDIR=/run/rspamd &
pids+=($!)
dovecot -F &
pids+=($!)
postfix start-fg &
pids+=($!)
log "started rspamd, dovecot and postfix ($(tr '\n' ' ' < /etc/ccci-mailstack-packages)) as Mailu $(cat /etc/ccci-image-tag)"

rc=0
wait -n "${pids[@]}" || rc=$?
echo "mailstack: a daemon exited (status $rc); stopping the others" >&2
stop
exit "$rc"
