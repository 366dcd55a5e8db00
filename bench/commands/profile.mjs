// `node bench/bench.mjs profile [--target worker|peer]`: a V8 CPU profile of warm logins.
//
// Starts one worker (the Rust worker from --build, ideally a build with wasm function names
// kept: PORTAL_SSO_WASM_NAMES=1 bash scripts/build-worker.sh; or with --target peer the
// JavaScript peer) under `wrangler dev`, warms it up, runs K logins without the profiler, then
// records a sampling CPU profile of the worker's isolate through wrangler's inspector while K
// more run. Prints self time per function (wasm functions by their Rust names, JavaScript by
// name and file) and per category (wasm, the worker's JavaScript, runtime built-ins, GC).
// Profiling slows workerd down (roughly 5 → 9 ms per login) and samples wall time: read shares
// within one profile, and decide with `ab`. Not for a fresh isolate's first request: with the
// profiler attached V8 reports every lazily compiled wasm function to it.

import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { request } from '../../tests/support/http.mjs';
import { noFailures, pool, schedCpuMs } from '../lib/measure.mjs';
import { stagePeer, stageWorker, startTarget, unstage } from '../lib/workers.mjs';
import { stubFor } from './run.mjs';

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
  if (/shim\.m?js|index\.js|worker\.js|worker\/|build\//.test(url)) return 'JS: the worker script (wasm-bindgen / workers-rs glue; with --target peer, its own code)';
  if (url === '') return 'runtime built-ins';
  return `JS: ${path.basename(url)}`;
}

function report(profile, logins, TOP) {
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

/**
 * A profiler session on the worker's isolate, through wrangler's inspector proxy: a client
 * there counts as DevTools, and wrangler answers it with Debugger.disable (never
 * Debugger.enable), so wasm stays on its optimised tier. (workerd's own inspector port serves
 * one session, which wrangler holds.)
 */
async function profiler(inspectorPort, interval) {
  const targets = JSON.parse((await request(`http://127.0.0.1:${inspectorPort}/json`)).body);
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const c = cdp(target.webSocketDebuggerUrl);
  await c.open;
  await c.send('Profiler.enable');
  await c.send('Profiler.setSamplingInterval', { interval });
  return c;
}

export default async function profile(o, { onCleanup, stopped, log }) {
  const { op, client } = await stubFor('prof', onCleanup);
  const staged = o.target === 'peer' ? stagePeer(o.peer) : stageWorker(o.build);
  onCleanup(() => unstage(staged));
  const t = await startTarget(o.target, staged, { op, client, persistTo: path.join(staged.dir, 'state') });
  onCleanup(() => t.w.stop());
  const N = o.logins;
  const C = o.concurrency;
  noFailures('warm-up logins', await pool(Math.max(4 * C, 100), C, t.login, stopped));
  let cpu0 = schedCpuMs(t.pid);
  noFailures('logins', await pool(N, C, t.login, stopped));
  const plainCpu = (schedCpuMs(t.pid) - cpu0) / N;
  const c = await profiler(t.w.inspectorPort, o['interval-us']);
  await c.send('Profiler.start');
  cpu0 = schedCpuMs(t.pid);
  noFailures('profiled logins', await pool(N, C, t.login, stopped));
  const profiledCpu = (schedCpuMs(t.pid) - cpu0) / N;
  const { profile: prof } = await c.send('Profiler.stop');
  c.close();
  log(`workerd CPU per login: ${plainCpu.toFixed(3)} ms without the profiler, ${profiledCpu.toFixed(3)} ms with it`);
  if (o.out) fs.writeFileSync(o.out, JSON.stringify(prof));
  report(prof, N, o.top);
}
