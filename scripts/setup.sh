#!/usr/bin/env bash
# One idempotent set-up for a fresh machine of this kind, used by both README commands:
# installs what is missing and skips what is there. Nothing is downloaded from outside the
# crates.io, npm and Debian registries (worker-build's own downloads from GitHub would fail,
# so the wasm-bindgen CLI is installed with cargo at exactly the version in Cargo.lock).
#   PORTAL_SSO_BROWSER=0  skip Chromium (the run command does not need it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
start=$(date +%s)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

WORKER_BUILD_VERSION=0.8.7
if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (takes several minutes once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

WASM_BINDGEN_VERSION=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$WASM_BINDGEN_VERSION" ]; then
  echo "could not read the wasm-bindgen version from Cargo.lock" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes several minutes once)"
  # --locked can fail when the registry lacks a locked transitive version; retry unlocked.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --force ||
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

stamp=node_modules/.portal-sso-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm packages (wrangler, oidc-provider, test tools)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

if [ "${PORTAL_SSO_BROWSER:-1}" = "1" ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's Chromium for the browser tests"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

say "ready ($(( $(date +%s) - start )) s)"
