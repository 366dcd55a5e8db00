#!/usr/bin/env bash
# README command 1: run the worker locally with a demo tenant against a local OpenID Provider.
# Set-up first (no Chromium needed here), then scripts/dev.mjs starts the provider, a fake
# portal and `wrangler dev`, creates tenant `demo`, and stops everything on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PORTAL_SSO_BROWSER=0 bash scripts/setup.sh
exec node scripts/dev.mjs "$@"
