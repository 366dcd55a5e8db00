#!/usr/bin/env bash
# wrangler.toml's build command. Builds the wasm worker with worker-build, pointing it at the
# locally installed wasm-bindgen CLI (worker-build would otherwise download one from GitHub,
# which these machines cannot reach). With PORTAL_SSO_PREBUILT=1 an existing build is reused,
# so the test suite can start several `wrangler dev` instances without rebuilding each time.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${PORTAL_SSO_PREBUILT:-}" = "1" ] && [ -f build/worker/shim.mjs ]; then
  exit 0
fi
export PATH="$HOME/.cargo/bin:$PATH"
WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || true)}"
if [ -z "$WASM_BINDGEN_BIN" ]; then
  echo "wasm-bindgen CLI not found: run scripts/setup.sh first" >&2
  exit 1
fi
export WASM_BINDGEN_BIN
if [ -x node_modules/.bin/esbuild ]; then
  export ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
fi
worker-build --release
# The default export as a module worker object rather than worker-build's per-request
# entrypoint class (scripts/entry-object.mjs says why and what it keeps).
node scripts/entry-object.mjs build/index.js

# Shrink the module with binaryen's wasm-opt from npm (Debian's binaryen is too old for the
# exception-handling instructions wasm-bindgen emits). About 25 % smaller, same behaviour;
# PORTAL_SSO_WASM_OPT=0 skips it for a faster edit-reload loop; PORTAL_SSO_WASM_NAMES=1 keeps
# the function names (the wasm's name section, ~150 KiB) for bench/profile.mjs.
WASM_OPT="node_modules/.bin/wasm-opt"
KEEP_NAMES=()
if [ "${PORTAL_SSO_WASM_NAMES:-0}" = "1" ]; then
  KEEP_NAMES=(-g)
fi
if [ "${PORTAL_SSO_WASM_OPT:-1}" = "1" ] && [ -x "$WASM_OPT" ]; then
  "$WASM_OPT" -Oz "${KEEP_NAMES[@]}" --enable-exception-handling --enable-reference-types --enable-bulk-memory \
    --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int --enable-multivalue \
    build/index_bg.wasm -o build/index_bg.opt.wasm
  mv build/index_bg.opt.wasm build/index_bg.wasm
fi
