#!/usr/bin/env bash
# README command 2: every test. Unit tests of the pure core natively, then the wasm worker is
# built once and the end-to-end suite drives it under `wrangler dev` against real OpenID
# Providers on loopback (each test file starts and stops its own servers).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
start=$(date +%s)
echo "== unit tests (src/core, native)"
cargo test --locked
echo "== building the worker (wasm)"
# Always a fresh build here, even when the caller's environment asks to reuse one.
PORTAL_SSO_PREBUILT= bash scripts/build-worker.sh
echo "== deployability (wrangler deploy --dry-run, offline)"
bash scripts/check-deploy.sh
echo "== end-to-end tests (wrangler dev + OpenID Providers + Chromium)"
node --test tests/harness/
PORTAL_SSO_PREBUILT=1 node --test --test-concurrency=2 --test-timeout=300000 tests/e2e/
echo "== all tests passed in $(( $(date +%s) - start )) s"
