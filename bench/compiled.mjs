// Which wasm functions a fresh isolate's first requests run — and so compile:
//
//   PORTAL_SSO_WASM_NAMES=1 bash scripts/build-worker.sh && cp -r build /tmp/named
//   node bench/compiled.mjs --build /tmp/named [--top 30]
//
// workerd's V8 compiles a wasm function, whole, the first time it is called, and on these
// machines that compiling is most of an isolate's first-request CPU (bench/FINDINGS.md).
// This copies the build, rewrites its wasm so that every function, on entry, writes 1 into its
// own byte of a scratch area at the bottom of linear memory (the deepest end of the 1 MB
// stack, which nothing reaches), and has the shim answer `GET /__compiled` with the marked
// functions without entering the wasm. It then starts the copy on a fresh `wrangler dev` whose
// KV already holds the tenant and the IdP metadata, makes one `/login/sso` and its callback,
// and lists the functions each one ran for the first time, largest first, with their sizes
// (bytes of wasm code). Counts and sizes, not time: bench/first.mjs measures the CPU.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CookieJar, request } from '../tests/support/http.mjs';
import { instance, quickLogin } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { startWrangler, unstage } from './wrangler.mjs';
import { options, stopWranglersOnSignal, runMain } from './cli.mjs';
import { beforeFetch, instantiation } from '../scripts/bundle.mjs';

const TOOL = 'compiled';

const args = process.argv.slice(2);
const opt = options(args);
if (!opt('--build')) {
  console.error('usage: node bench/compiled.mjs --build NAMED_BUILD_DIR [--top 30]');
  process.exit(2);
}
const TOP = Number(opt('--top', 30));
const BASE = 64; // first mark byte; function i marks BASE + i
stopWranglersOnSignal();

/** The sections of a wasm module that matter here: imports count, code bodies, names, globals. */
/** An unsigned-LEB128 reader over `buf`, starting at `at`; `pos()` is where it stands. */
function lebReader(buf, at) {
  let p = at;
  const leb = () => {
    let r = 0;
    let s = 0;
    let b;
    do {
      b = buf[p++];
      r += (b & 0x7f) * 2 ** s;
      s += 7;
    } while (b & 0x80);
    return r;
  };
  return { leb, pos: () => p, skip: (n) => (p += n), byte: () => buf[p++], peek: (k) => buf[p + k], seek: (to) => (p = to) };
}

function readModule(buf) {
  const r = lebReader(buf, 8);
  const leb = r.leb;
  const out = { imports: 0, bodies: [], names: new Map(), sections: [], stackInit: null };
  while (r.pos() < buf.length) {
    const start = r.pos();
    const id = r.byte();
    const len = leb();
    const contentStart = r.pos();
    const end = contentStart + len;
    out.sections.push({ id, start, contentStart, end });
    if (id === 2) {
      const n = leb();
      for (let i = 0; i < n; i += 1) {
        for (let str = 0; str < 2; str += 1) {
          r.skip(leb()); // module, then field name
        }
        const kind = r.byte();
        if (kind === 0) {
          leb();
          out.imports += 1;
        } else if (kind === 1 || kind === 2) {
          if (kind === 1) r.skip(1); // table: element type
          const flags = r.byte();
          leb();
          if (flags & 1) leb();
        } else if (kind === 3) r.skip(2);
        else if (kind === 4) {
          r.skip(1);
          leb();
        }
      }
    } else if (id === 6 && out.stackInit === null) {
      // Rust's first global is the stack pointer: `(mut i32) (i32.const N)`.
      leb();
      if (r.peek(0) === 0x7f && r.peek(1) === 1 && r.peek(2) === 0x41) {
        r.skip(3);
        out.stackInit = leb();
      }
    } else if (id === 10) {
      const n = leb();
      for (let i = 0; i < n; i += 1) {
        const size = leb();
        out.bodies.push({ start: r.pos(), size });
        r.skip(size);
      }
    } else if (id === 0) {
      const text = () => {
        const l = leb();
        const at = r.pos();
        r.skip(l);
        return buf.subarray(at, at + l).toString();
      };
      if (text() === 'name') {
        while (r.pos() < end) {
          const sub = r.byte();
          const subEnd = leb() + r.pos();
          if (sub === 1) {
            const n = leb();
            for (let i = 0; i < n; i += 1) {
              const idx = leb();
              out.names.set(idx, text());
            }
          }
          r.seek(subEnd);
        }
      }
    }
    r.seek(end);
  }
  return out;
}

const uleb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb = (n) => {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};

/** The module with `i32.store8 (BASE + index) 1` at the start of every function body. */
function markFunctions(buf, mod) {
  const code = mod.sections.find((s) => s.id === 10);
  const parts = [];
  for (const [i, body] of mod.bodies.entries()) {
    const r = lebReader(buf, body.start);
    const groups = r.leb();
    for (let g = 0; g < groups; g += 1) {
      r.leb();
      const type = r.byte();
      if (type === 0x63 || type === 0x64) r.leb(); // (ref null? heaptype)
    }
    const p = r.pos();
    const mark = Buffer.from([0x41, ...sleb(BASE + mod.imports + i), 0x41, 0x01, 0x3a, 0x00, 0x00]);
    const rewritten = Buffer.concat([buf.subarray(body.start, p), mark, buf.subarray(p, body.start + body.size)]);
    parts.push(Buffer.from(uleb(rewritten.length)), rewritten);
  }
  const content = Buffer.concat([Buffer.from(uleb(mod.bodies.length)), ...parts]);
  return Buffer.concat([buf.subarray(0, code.start), Buffer.from([10, ...uleb(content.length)]), content, buf.subarray(code.end)]);
}


function instrument(buildDir, mod, total) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-compiled-'));
  fs.cpSync(buildDir, dir, { recursive: true });
  const wasm = path.join(dir, 'index_bg.wasm');
  fs.writeFileSync(wasm, markFunctions(fs.readFileSync(wasm), mod));
  const file = path.join(dir, 'index.js');
  let js = fs.readFileSync(file, 'utf8');
  const exp = instantiation(js, TOOL).exports;
  js = beforeFetch(
    js,
    TOOL,
    (req) => `if(new URL(${req}.url).pathname==="/__compiled"){const m=new Uint8Array(${exp}.memory.buffer,${BASE},${total});return new Response(JSON.stringify(Array.from(m)))}`,
  );
  fs.writeFileSync(file, js);
  return dir;
}

async function marks(port) {
  const r = await request(`http://localhost:${port}/__compiled`);
  if (r.status !== 200) throw new Error(`/__compiled → ${r.status} ${r.body.slice(0, 200)}`);
  const bytes = JSON.parse(r.body);
  const odd = bytes.filter((b) => b !== 0 && b !== 1).length;
  if (odd) throw new Error(`/__compiled: ${odd} mark bytes are neither 0 nor 1: something wrote to the scratch area`);
  return new Set(bytes.flatMap((b, i) => (b === 1 ? [i] : [])));
}

function report(label, set, before, mod) {
  const rows = [...set]
    .filter((i) => !before.has(i))
    .map((i) => [mod.bodies[i - mod.imports]?.size ?? 0, (mod.names.get(i) ?? `function ${i}`).replace(/::h[0-9a-f]{16}$/, '')])
    .sort((a, b) => b[0] - a[0]);
  const bytes = rows.reduce((sum, [s]) => sum + s, 0);
  console.log(`\n${label}: ${rows.length} functions run for the first time, ${(bytes / 1024).toFixed(1)} KiB of wasm code`);
  for (const [s, n] of rows.slice(0, TOP)) console.log(`${String(s).padStart(8)}  ${n.slice(0, 150)}`);
}

async function main() {
  const buildDir = path.resolve(opt('--build'));
  const buf = fs.readFileSync(path.join(buildDir, 'index_bg.wasm'));
  const mod = readModule(buf);
  const total = mod.imports + mod.bodies.length;
  if (mod.names.size === 0) throw new Error('no function names in this build: build it with PORTAL_SSO_WASM_NAMES=1');
  if (mod.stackInit === null || mod.stackInit < 512 * 1024) throw new Error('the stack does not start where this expects (first global, at least 512 KiB)');
  const dir = instrument(buildDir, mod, total);
  const client = { client_id: `compiled-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  let env;
  let w;
  try {
    // Tenant and IdP metadata into KV, then a fresh process on that state.
    env = await instance('compiled', dir, op, client);
    await quickLogin(env.tenantOrigin, env.label);
    await env.w.stop();
    w = await startWrangler({ staged: env.staged, persistTo: path.join(env.staged.dir, 'state') });
    const atStart = await marks(w.port);
    const jar = new CookieJar();
    const start = await request(`http://acme.localhost:${w.port}/login/sso`, { jar });
    if (start.status !== 302) throw new Error(`/login/sso → ${start.status}`);
    const afterSso = await marks(w.port);
    const authz = await request(start.location);
    const cb = await request(authz.location, { jar });
    if (cb.status !== 200) throw new Error(`callback → ${cb.status} ${cb.body.slice(0, 200)}`);
    const afterCallback = await marks(w.port);
    console.log(`${buildDir}: ${mod.bodies.length} functions, ${(mod.bodies.reduce((s, b) => s + b.size, 0) / 1024).toFixed(1)} KiB of code; ${atStart.size} run at instantiation`);
    report('first /login/sso', afterSso, atStart, mod);
    report('first callback', afterCallback, afterSso, mod);
  } finally {
    if (w) await w.stop();
    if (env) unstage(env.staged);
    await op.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
