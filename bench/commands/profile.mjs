// A V8 CPU profile of warm logins: node bench/profile.mjs --build DIR [--logins 400] [--interval-us 50]
//
// Starts the worker (a copy of build/, ideally with wasm function names kept: see
// bench/README.md) under `wrangler dev`, warms it up, then records a sampling CPU profile of
// the worker's isolate through wrangler's inspector while K logins run at concurrency 8. Prints
// self time per function (wasm functions by their Rust names, JS by name and file) and per
// category (our wasm, the wasm-bindgen / workers-rs JS glue, runtime built-ins, GC, idle).
// With --floor it profiles the JavaScript floor worker's whole logins (bench/floor-worker) the
// same way, to compare category by category. Not for the first request of a fresh isolate: with the profiler attached, V8 reports every
// lazily compiled wasm function to it, and that first request then costs ~130 ms instead of
// ~25 (seen once, 2026-11-27).
// Profiling slows everything down; read the shares, not the milliseconds.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { request } from '../tests/support/http.mjs';
import { pool, quickLogin, tenantBody } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { schedCpuMs } from './proc.mjs';

import { stage, stageFloor, startWrangler, unstage } from './wrangler.mjs';
import { options, stopWranglersOnSignal, runMain } from './cli.mjs';

const args = process.argv.slice(2);
const opt = options(args);
const N = Number(opt('--logins', 400));
const C = Number(opt('--concurrency', 8));
const INTERVAL = Number(opt('--interval-us', 50));
const TOP = Number(opt('--top', 40));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
stopWranglersOnSignal();

function cdp(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let id = 0;
  const waiting = new Map();
  ws.on('message', (m) => {
    const msg = JSON.parse(m.toString());
    if (msg.id && waiting.has(msg.id)) {
      const { resolve, reject } = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
    }
  });
  const open = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    open,
    send(method, params = {}) {
      id += 1;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

function category(frame) {
  const { functionName: fn, url } = frame;
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(idle)' || fn === '(program)' || fn === '(root)') return fn;
  if (url.startsWith('wasm://')) return 'wasm (ours + crates)';
  if (/shim\.mjs|index\.js|worker\/|build\//.test(url)) return 'JS: the worker script (wasm-bindgen / workers-rs glue; with --floor, its own code)';
  if (url === '') return 'runtime built-ins';
  return `JS: ${path.basename(url)}`;
}

function report(profile, logins) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const cats = new Map();
  const dts = profile.timeDeltas;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i += 1) {
    const dt = (dts[i + 1] ?? 0) / 1000; // ms attributed to this sample
    const node = byId.get(profile.samples[i]);
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'}  [${f.url.startsWith('wasm://') ? 'wasm' : path.basename(f.url) || 'builtin'}]`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const c = category(f);
    cats.set(c, (cats.get(c) ?? 0) + dt);
    if (c !== '(idle)') total += dt;
  }
  const pct = (v) => `${((100 * v) / total).toFixed(1).padStart(5)} %`;
  console.log(`\nBusy samples: ${total.toFixed(1)} ms over ${logins} logins (${(total / logins).toFixed(3)} ms/login under the profiler)\n`);
  console.log('By category (self time, share of busy):');
  for (const [k, v] of [...cats].sort((a, b) => b[1] - a[1])) if (k !== '(idle)') console.log(`  ${pct(v)}  ${(v / logins * 1000).toFixed(0).padStart(5)} µs/login  ${k}`);
  console.log(`\nTop ${TOP} functions by self time:`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) if (!k.startsWith('(idle)')) console.log(`  ${pct(v)}  ${(v / logins * 1000).toFixed(1).padStart(6)} µs/login  ${k}`);
}

async function startWorker(staged, persistTo) {
  const w = await startWrangler({ staged, persistTo });
  const { port, inspectorPort } = w;
  return { w, port, inspectorPort, apex: `http://localhost:${port}`, origin: `http://acme.localhost:${port}` };
}

async function waitHealthy(apex) {
  for (let i = 0; i < 150; i += 1) {
    try {
      if ((await request(`${apex}/healthz`)).status === 200) return;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  throw new Error('the worker never answered /healthz');
}

async function putTenant(apex, op, client, staged) {
  const put = await request(`${apex}/admin/tenants/acme`, { method: 'PUT', body: tenantBody(op, client), headers: { authorization: `Bearer ${staged.secrets.ADMIN_TOKEN}`, accept: 'application/json' } });
  if (put.status !== 201) throw new Error(`PUT tenant → ${put.status} ${put.body}`);
}

/**
 * A profiler session on the worker's isolate, through wrangler's inspector proxy: a client
 * there counts as DevTools, and wrangler answers it with Debugger.disable (never
 * Debugger.enable), so wasm stays on its optimised tier. (workerd's own inspector port serves
 * one session, which wrangler holds.)
 */
async function profiler(inspectorPort) {
  const targets = JSON.parse((await request(`http://127.0.0.1:${inspectorPort}/json`)).body);
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const c = cdp(target.webSocketDebuggerUrl);
  await c.open;
  await c.send('Profiler.enable');
  await c.send('Profiler.setSamplingInterval', { interval: INTERVAL });
  return c;
}

/** A whole login on the JavaScript floor worker: /start, then /callback on the key it wrote. */
function floorLogin(apex, op) {
  const fetchUrl = encodeURIComponent(`${op.origin}/floor/token`);
  return async () => {
    const start = await request(`${apex}/start`);
    const state = start.location ? new URL(start.location).searchParams.get('state') : null;
    if (start.status !== 302 || !state) throw new Error(`floor /start → ${start.status}`);
    const cb = await request(`${apex}/callback?key=floor-pending:${state}&url=${fetchUrl}`);
    if (cb.status !== 200) throw new Error(`floor /callback → ${cb.status}`);
  };
}

/** Warm logins: the same batch without, then with the profiler. */
async function warm(staged, op, client, floor) {
  const x = await startWorker(staged, path.join(staged.dir, 'state'));
  try {
    await waitHealthy(x.apex);
    const login = floor ? floorLogin(x.apex, op) : () => quickLogin(x.origin);
    if (!floor) await putTenant(x.apex, op, client, staged);
    await pool(Math.max(4 * C, 100), C, login);
    let cpu0 = schedCpuMs(x.w.pids.worker);
    await pool(N, C, login);
    const plainCpu = (schedCpuMs(x.w.pids.worker) - cpu0) / N;
    const c = await profiler(x.inspectorPort);
    await c.send('Profiler.start');
    cpu0 = schedCpuMs(x.w.pids.worker);
    await pool(N, C, login);
    const profiledCpu = (schedCpuMs(x.w.pids.worker) - cpu0) / N;
    const { profile } = await c.send('Profiler.stop');
    c.close();
    console.log(`workerd CPU per login: ${plainCpu.toFixed(3)} ms without the profiler, ${profiledCpu.toFixed(3)} ms with it`);
    return { profile, count: N };
  } finally {
    await x.w.stop();
  }
}

async function main() {
  const buildDir = opt('--build');
  if (!buildDir) throw new Error('usage: node bench/profile.mjs --build DIR [--floor] [--logins 400] [--interval-us 50] [--top 40] [--out FILE]');
  const client = { client_id: `prof-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  const staged = stage(path.resolve(buildDir));
  const floor = args.includes('--floor');
  try {
    const { profile, count } = await warm(floor ? stageFloor(staged) : staged, op, client, floor);
    const out = opt('--out');
    if (out) fs.writeFileSync(out, JSON.stringify(profile));
    report(profile, count);
  } finally {
    unstage(staged);
    await op.close();
  }
}

runMain(main);
