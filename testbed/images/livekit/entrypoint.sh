#!/bin/sh
# Renders /etc/livekit.yaml from the environment and starts the server on it.
#   LIVEKIT_API_KEY            the API key (tokens name it in `iss`)
#   LIVEKIT_API_SECRET_FILE    the file holding its secret (a Docker secret; >= 32 characters)
#   LIVEKIT_NODE_IP            the address ICE candidates advertise (where clients reach the
#                              TCP/UDP ports: the ingress)
#   LIVEKIT_PORT, LIVEKIT_RTC_TCP_PORT, LIVEKIT_RTC_UDP_PORT   default 7880, 7881, 7882
# The config file is written with the secret in it, readable by root only.
set -eu
: "${LIVEKIT_API_KEY:?set LIVEKIT_API_KEY}"
: "${LIVEKIT_API_SECRET_FILE:?set LIVEKIT_API_SECRET_FILE}"
: "${LIVEKIT_NODE_IP:?set LIVEKIT_NODE_IP}"
secret="$(cat "${LIVEKIT_API_SECRET_FILE}")"
umask 077
cat > /etc/livekit.yaml <<CONF
port: ${LIVEKIT_PORT:-7880}
bind_addresses:
  - 0.0.0.0
rtc:
  tcp_port: ${LIVEKIT_RTC_TCP_PORT:-7881}
  udp_port: ${LIVEKIT_RTC_UDP_PORT:-7882}
  use_external_ip: false
  node_ip: ${LIVEKIT_NODE_IP}
keys:
  ${LIVEKIT_API_KEY}: ${secret}
logging:
  level: info
CONF
exec /livekit-server --config /etc/livekit.yaml "$@"
