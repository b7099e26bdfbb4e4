#!/bin/sh
# /usr/bin/parley: the parley command of the Debian package. It reads the service's config, and
# run by root it runs as the parley user, so that files it makes in the data folder stay the
# service's (the data folder refuses to be shared with another user).
set -e
# node's flags are SERVING_NODE_FLAGS (appliance/src/heap-tuning.ts: V8 reads them only at start)
: "${PARLEY_CONFIG:=/etc/parley/parley.yaml}"
export PARLEY_CONFIG
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=parley --regid=parley --init-groups -- /usr/bin/node --max-semi-space-size=64 /opt/parley/appliance/dist/cli.js "$@"
fi
exec /usr/bin/node --max-semi-space-size=64 /opt/parley/appliance/dist/cli.js "$@"
