// Finding our way around the worker's esbuild-minified bundle (build/index.js): for the build
// step that replaces its default export (entry-object.mjs) and for the benchmark scripts that
// instrument a copy of it (bench/count-calls.mjs, bench/compiled.mjs). Names are found by
// shape; each shape must match exactly once.

/** A minified JavaScript identifier (esbuild uses `$` too). */
export const ID = '[A-Za-z_$][\\w$]*';

/** The one match of `re` in `js`, or a clear failure naming `tool`. */
export function one(js, re, what, tool) {
  const all = [...js.matchAll(new RegExp(re.source, 'g'))];
  if (all.length !== 1) throw new Error(`${tool}: found ${all.length} ${what} in index.js (expected 1): worker-build's or wasm-bindgen's output changed`);
  return all[0];
}

/**
 * `js` with `code(request)` run first in the glue's wrapper around the wasm's `fetch` export,
 * which every request passes whatever the default export is (scripts/entry-object.mjs).
 */
export function beforeFetch(js, tool, code) {
  const re = new RegExp(`function (${ID})\\((${ID}),${ID},${ID}\\)\\{(?=let ${ID};${ID}\\(\\);try\\{${ID}=${ID}\\.fetch\\()`);
  const m = one(js, re, 'wrappers of the fetch export', tool);
  return js.replace(m[0], () => `${m[0]}${code(m[2])}`);
}

/**
 * The module-scope `INSTANCE=new WebAssembly.Instance(MODULE,IMPORTS()),EXPORTS=INSTANCE.exports;`:
 * `{ whole, instance, module, imports, exports }`, each a name in the bundle.
 */
export function instantiation(js, tool) {
  const re = new RegExp(`(${ID})=new WebAssembly\\.Instance\\((${ID}),(${ID})\\(\\)\\),(${ID})=\\1\\.exports;`);
  const [whole, instance, module, imports, exports] = one(js, re, 'module-scope instantiations', tool);
  return { whole, instance, module, imports, exports };
}
