#!/usr/bin/env bash
# Deployability of what is configured, offline: `wrangler deploy --dry-run` of the built worker
# for both configurations (wrangler.toml, wrangler.forwarder.toml). wrangler validates the
# bindings, the Durable Object's export and the rate limits, and prints a warning (not an error)
# for a Durable Object without its migration: any warning fails this check too, so a broken
# wrangler.toml fails the test command, not a deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for config in wrangler.toml wrangler.forwarder.toml; do
  log="$out/$config.log"
  if ! PORTAL_SSO_PREBUILT=1 NO_COLOR=1 CI=1 WRANGLER_SEND_METRICS=false \
    node_modules/.bin/wrangler deploy --dry-run --config "$config" --outdir "$out/$config" >"$log" 2>&1; then
    cat "$log" >&2
    echo "check-deploy: wrangler deploy --dry-run failed for $config" >&2
    exit 1
  fi
  if grep -qE 'WARNING|▲' "$log"; then
    cat "$log" >&2
    echo "check-deploy: wrangler warned about $config (treated as a failure)" >&2
    exit 1
  fi
  echo "check-deploy: $config ok ($(grep -o 'Total Upload: .*' "$log"))"
done
for binding in APP_CODES KV PROVISIONING_QUEUE SETTINGS_SIGNIN_LIMIT APP_TOKEN_LIMIT LOGIN_START_LIMIT; do
  grep -q "env.$binding " "$out/wrangler.toml.log" || { echo "check-deploy: binding $binding missing from wrangler.toml" >&2; exit 1; }
done
