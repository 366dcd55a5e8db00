// Finding our way around the worker's esbuild-minified bundle (build/index.js), for the build
// step that replaces its default export (entry-object.mjs). Names are found by shape; each
// shape must match exactly once.

/** A minified JavaScript identifier (esbuild uses `$` too). */
export const ID = '[A-Za-z_$][\\w$]*';

/** The one match of `re` in `js`, or a clear failure naming `tool`. */
export function one(js, re, what, tool) {
  const all = [...js.matchAll(new RegExp(re.source, 'g'))];
  if (all.length !== 1) throw new Error(`${tool}: found ${all.length} ${what} in index.js (expected 1): worker-build's or wasm-bindgen's output changed`);
  return all[0];
}
