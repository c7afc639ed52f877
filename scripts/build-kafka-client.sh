#!/usr/bin/env bash
# Builds @confluentinc/kafka-javascript's native addon, which `npm install` leaves unbuilt
# on purpose: it has no prebuilt binary here and its default build downloads sources, so a
# plain `npm install` (and `npm run demo`) must not depend on it. This builds it against
# Debian's libraries (CKJS_LINKING=dynamic). Idempotent: does nothing once built.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=node_modules/@confluentinc/kafka-javascript
if [ ! -d "$pkg" ]; then
  echo "build-kafka-client: $pkg is missing; run npm install first" >&2
  exit 1
fi
if [ -f "$pkg/build/Release/confluent-kafka-javascript.node" ]; then
  echo "kafka client: already built"
  exit 0
fi
missing=()
for p in zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-kafka-client: install the Debian packages it links against first: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "kafka client: building from source (about a minute)"
(cd "$pkg" && CKJS_LINKING=dynamic npm_config_nodedir="${npm_config_nodedir:-/usr}" npm run install --silent)
test -f "$pkg/build/Release/confluent-kafka-javascript.node"
echo "kafka client: built"
