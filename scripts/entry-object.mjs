// Run by scripts/build-worker.sh after worker-build: makes the bundle's default export a module
// worker object, `{ fetch, queue }`, instead of worker-build's `WorkerEntrypoint` class.
//
// With the class, workerd constructs an entrypoint instance for every request, and
// worker-build wraps it in a Proxy (construct and get traps, a Proxy per method read) to
// re-instantiate the wasm after a trap. Measured with bench/ab.mjs (2026-11-27, 24, 30 and 30
// paired rounds): -0.10 ms CPU per login with the object. The object keeps what the Proxy
// was for, word for word: before each call the shim's own check re-instantiates the wasm if
// the last call trapped (`checkReinitialize`), and a synchronous throw is inspected for a
// `WebAssembly.RuntimeError` before it is rethrown (`handleMaybeCritical`); the shim's
// `error` listener, which catches traps inside the handler's promise, is untouched.
//
// The bundle is esbuild-minified, so the names are found by shape (scripts/bundle.mjs); each
// must match exactly once, or the build fails here rather than shipping a worker without its
// entry.

import fs from 'node:fs';
import { ID, one as find } from './bundle.mjs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/entry-object.mjs build/index.js');
  process.exit(2);
}
let js = fs.readFileSync(file, 'utf8');
if (js.includes('__portalSsoEntry')) process.exit(0); // already done (an unchanged rebuild)

const TOOL = 'entry-object';
function one(re, what) {
  try {
    return find(js, re, what, TOOL);
  } catch (e) {
    console.error(`${e.message}; see scripts/entry-object.mjs`);
    process.exit(1);
  }
}

const handler = (name) => one(new RegExp(`${ID}\\.prototype\\.${name}=function\\((${ID})\\)\\{return (${ID})\\.call\\(this,\\1,this\\.env,this\\.ctx\\)\\}`), `${name} handlers`)[2];
const fetchFn = handler('fetch');
const queueFn = handler('queue');
const reinit = one(new RegExp(`function (${ID})\\(\\)\\{${ID}\\.criticalError&&\\(console\\.log\\("Reinitializing Wasm application"\\)`), 'checkReinitialize functions')[1];
const critical = one(new RegExp(`function (${ID})\\((${ID})\\)\\{\\2 instanceof WebAssembly\\.RuntimeError&&`), 'handleMaybeCritical functions')[1];
const exported = one(new RegExp(`export\\{([^}]*?)(?<![\\w$])(${ID}) as default\\}`), 'default exports');

const call = (fn, a) => `${reinit}();try{return ${fn}(${a},e,c)}catch(x){throw ${critical}(x),x}`;
const entry = `var __portalSsoEntry={fetch(r,e,c){${call(fetchFn, 'r')}},queue(b,e,c){${call(queueFn, 'b')}}};`;
js = js.replace(exported[0], () => `${entry}export{${exported[1]}__portalSsoEntry as default}`); // a function: no `$` patterns
fs.writeFileSync(file, js);
