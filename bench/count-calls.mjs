// What crosses from the wasm into JavaScript per login:
//
//   node bench/count-calls.mjs --build DIR [--logins 200]
//
// Copies the build (a copy of build/ from `bash scripts/build-worker.sh`), wraps every import the
// wasm module is instantiated with in a counter, counts the strings copied out of wasm memory
// (wasm-bindgen's one decoder function), and answers `GET /__calls` from the shim itself with
// the counts (the wasm never sees that request). Then it runs warm-up logins, reads the counts,
// runs --logins more, reads them again and prints the difference per login, largest first.
//
// Counts, not time: each call costs little, but they add up (a login made ~210 calls and 55
// string copies on 2026-11-27 before edge/js.rs, edge/promise.rs and edge/request.rs). The
// instrumentation matches wasm-bindgen's minified output of this build; when it stops matching,
// the script says so instead of counting nothing.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from '../tests/support/http.mjs';
import { instance, pool, quickLogin } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { unstage } from './wrangler.mjs';
import { options, stopWranglersOnSignal, runMain } from './cli.mjs';
import { beforeFetch, instantiation, one } from '../scripts/bundle.mjs';

const TOOL = 'count-calls';

const args = process.argv.slice(2);
const opt = options(args);
if (!opt('--build')) {
  console.error('usage: node bench/count-calls.mjs --build BUILD_DIR [--logins 200]');
  process.exit(2);
}
const N = Number(opt('--logins', 200));
const C = 8;
stopWranglersOnSignal();


function instrument(buildDir) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-count-'));
  fs.cpSync(buildDir, dir, { recursive: true });
  const file = path.join(dir, 'index.js');
  let js = fs.readFileSync(file, 'utf8');
  // new WebAssembly.Instance(module, imports()) at module scope: wrap every import function.
  const { whole, instance: b, module: mod, imports, exports: exp } = instantiation(js, TOOL);
  js = js.replace(whole, () => `${b}=new WebAssembly.Instance(${mod},__countImports(${imports}())),${exp}=${b}.exports;`);
  // function d(r,e){return r=r>>>0,decode(bytes().subarray(r,r+e))}: strings out of wasm memory.
  const dec = one(js, /function (\w+)\(r,e\)\{return r=r>>>0,(\w+)\((\w+)\(\)\.subarray\(r,r\+e\)\)\}/, 'string decoders', TOOL);
  js = js.replace(dec[0], `function ${dec[1]}(r,e){__calls["(string copied out of wasm memory)"]=(__calls["(string copied out of wasm memory)"]||0)+1;return r=r>>>0,${dec[2]}(${dec[3]}().subarray(r,r+e))}`);
  // The entry's fetch: answer /__calls before anything reaches the wasm.
  js = beforeFetch(js, TOOL, (req) => `if(new URL(${req}.url).pathname==="/__calls")return new Response(JSON.stringify(__calls));`);
  const prelude = `var __calls={};function __countImports(o){for(const m of Object.values(o)){if(!m||typeof m!=="object")continue;for(const k of Object.keys(m)){const f=m[k];if(typeof f!=="function")continue;const name=k.replace(/_[0-9a-f]{16}$/,"");m[k]=function(...a){__calls[name]=(__calls[name]||0)+1;return f.apply(this,a)};}}return o}\n`;
  fs.writeFileSync(file, prelude + js);
  return dir;
}

async function counts(env) {
  const r = await request(`${env.apex}/__calls`);
  if (r.status !== 200) throw new Error(`/__calls → ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body);
}

async function main() {
  const dir = instrument(path.resolve(opt('--build')));
  const client = { client_id: `count-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  let env;
  try {
    env = await instance('counted', dir, op, client);
    await pool(40, C, () => quickLogin(env.tenantOrigin, env.label));
    const before = await counts(env);
    await pool(N, C, () => quickLogin(env.tenantOrigin, env.label));
    const after = await counts(env);
    const rows = Object.keys(after)
      .map((k) => [k, (after[k] - (before[k] ?? 0)) / N])
      .filter(([, v]) => v > 0)
      .sort((x, y) => y[1] - x[1]);
    const strings = '(string copied out of wasm memory)';
    const calls = rows.filter(([k]) => k !== strings).reduce((sum, [, v]) => sum + v, 0);
    console.log(`${N} logins (2 worker requests each): per login, ${calls.toFixed(1)} calls into JavaScript, ${(after[strings] - (before[strings] ?? 0)) / N} strings copied out of wasm memory`);
    for (const [k, v] of rows) console.log(`${v.toFixed(2).padStart(8)}  ${k}`);
  } finally {
    if (env) {
      await env.w.stop();
      unstage(env.staged);
    }
    await op.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
