#!/usr/bin/env bash
# Fetches the Apache Kafka broker jars named in tests/support/kafka/pom.xml
# from Maven Central into .cache/kafka-libs/ (git-ignored). Idempotent: it does
# nothing when the jars for the current pom are already there.
# Override the target with KAFKA_LIBS_DIR.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${KAFKA_LIBS_DIR:-$root/.cache/kafka-libs}"
stamp="$out/.pom.sha256"
want="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && ls "$out"/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "kafka libs: up to date in $out"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$out"
echo "$want" > "$stamp"
echo "kafka libs: fetched $(ls "$out"/*.jar | wc -l) jars into $out"
