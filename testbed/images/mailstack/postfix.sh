#!/bin/bash
# Configures Postfix for the mail domain "$DOMAIN" (sourced by the entrypoint at every start):
#   25   (smtp)        inbound mail for the domain; STARTTLS offered; no AUTH (as Mailu's
#                      port 25: relaying only for authenticated submission);
#   587  (submission)  STARTTLS required before anything, then AUTH (Dovecot SASL) required;
#   every mail passes the rspamd milter (a `reject` action is a 5xx to the sender), then goes
#   to Dovecot over LMTP. Recipients: the virtual mailboxes in /etc/postfix/vmailbox and the
#   aliases in /etc/postfix/virtual; any other address of the domain is refused at RCPT.
#   Logs go to stdout (`maillog_file`), as there is no syslog in the container.
set -euo pipefail
# Debian's "No configuration" install leaves no main.cf: start from the packaged one.
[ -f /etc/postfix/main.cf ] || cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
postconf -e \
  "myhostname=$DOMAIN" \
  "mydomain=$DOMAIN" \
  "myorigin=\$mydomain" \
  "mydestination=localhost" \
  "mynetworks=127.0.0.0/8 [::1]/128" \
  "inet_interfaces=all" \
  "inet_protocols=ipv4" \
  "smtpd_banner=\$myhostname ESMTP" \
  "maillog_file=/dev/stdout" \
  "maillog_file_prefixes=/var,/dev/stdout" \
  "virtual_mailbox_domains=$DOMAIN" \
  "virtual_mailbox_maps=hash:/etc/postfix/vmailbox" \
  "virtual_alias_maps=hash:/etc/postfix/virtual" \
  "virtual_transport=lmtp:unix:private/dovecot-lmtp" \
  "smtpd_tls_cert_file=/certs/cert.pem" \
  "smtpd_tls_key_file=/certs/key.pem" \
  "smtpd_tls_security_level=may" \
  "smtpd_tls_auth_only=yes" \
  "smtpd_sasl_type=dovecot" \
  "smtpd_sasl_path=private/auth" \
  "smtpd_sasl_auth_enable=no" \
  "smtpd_relay_restrictions=permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination" \
  "smtpd_recipient_restrictions=reject_unlisted_recipient" \
  "smtpd_milters=inet:127.0.0.1:11332" \
  "non_smtpd_milters=inet:127.0.0.1:11332" \
  "milter_default_action=tempfail" \
  "milter_protocol=6" \
  "milter_mail_macros=i {mail_addr} {client_addr} {client_name} {auth_authen}" \
  "compatibility_level=3.6" \
  "alias_maps=" "alias_database="
postconf -M "submission/inet=submission inet n - y - - smtpd"
postconf -P \
  "submission/inet/syslog_name=postfix/submission" \
  "submission/inet/smtpd_tls_security_level=encrypt" \
  "submission/inet/smtpd_sasl_auth_enable=yes" \
  "submission/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject" \
  "submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject" \
  "submission/inet/smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
postconf -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
# Postfix's data directory must be its own (it refuses to start otherwise).
chown -R postfix:postfix /var/lib/postfix
