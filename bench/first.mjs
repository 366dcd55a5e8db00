// A/B of an isolate's first requests: which of two (or more) builds costs less CPU on a fresh
// isolate's first `/login/sso` and first callback, on this machine, now.
//
//   node bench/first.mjs --build /tmp/before --build /tmp/after [--starts 6] [--no-prewarm]
//
// Each build gets its tenant and IdP metadata into KV once (one login), then the builds take
// turns: `--starts` times each, a fresh `wrangler dev` on that KV state; its CPU until quiet
// (workerd's start and the module's evaluation: "startup"); the harness warmed as run.mjs
// warms it (KV through miniflare's explorer, never the worker's isolate; `--no-prewarm`
// skips it); quiet again, idle rate measured; then one `/login/sso` and its callback, each
// read from the worker workerd's scheduler clock (250 ms settle, idle removed), all threads
// and the main thread. Medians and every value are printed. Single starts on these machines
// spread by ±20 %; take 6 or more. `bench/compiled.mjs` shows what those first requests
// compile.

import crypto from 'node:crypto';
import path from 'node:path';
import { CookieJar, request } from '../tests/support/http.mjs';
import { instance, quickLogin, warmHarness } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { mainThreadCpuMs, schedCpuMs } from './proc.mjs';
import { fmt, percentile } from './stats.mjs';
import { startWrangler, unstage } from './wrangler.mjs';
import { stopWranglersOnSignal, runMain } from './cli.mjs';

const args = process.argv.slice(2);
const builds = args.flatMap((a, i) => (a === '--build' ? [path.resolve(args[i + 1])] : []));
const startsAt = args.indexOf('--starts');
const starts = startsAt >= 0 ? Number(args[startsAt + 1]) : 6;
const prewarm = !args.includes('--no-prewarm');
if (builds.length < 2 || !(starts >= 1)) {
  console.error('usage: node bench/first.mjs --build DIR --build DIR [--build DIR…] [--starts 6] [--no-prewarm]');
  process.exit(2);
}
const SETTLE_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
stopWranglersOnSignal();

/** One fresh start of `staged`: CPU of its first /login/sso and first callback (ms). */
async function freshStart(staged, label) {
  const w = await startWrangler({ staged, persistTo: path.join(staged.dir, 'state') });
  const pid = w.pids.worker;
  try {
    // Quiet = < 2 ms CPU over 1 s; at most 30 s.
    const quiet = async () => {
      let prev = schedCpuMs(pid);
      for (let i = 0; i < 30; i += 1) {
        await sleep(1_000);
        const now = schedCpuMs(pid);
        if (now - prev < 2) return now;
        prev = now;
      }
      return prev;
    };
    // The process's whole CPU until quiet: workerd's start, the module's evaluation.
    const startup = await quiet();
    const startupMain = mainThreadCpuMs(pid);
    if (prewarm) {
      await warmHarness(`http://localhost:${w.port}`, 'acme');
      await quiet();
    }
    // The idle rate over 2 s.
    const i0 = schedCpuMs(pid);
    const t0 = performance.now();
    await sleep(2_000);
    const idlePerMs = (schedCpuMs(pid) - i0) / (performance.now() - t0);
    const measured = async (send) => {
      const c0 = schedCpuMs(pid);
      const m0 = mainThreadCpuMs(pid);
      const t = performance.now();
      const res = await send();
      await sleep(SETTLE_MS);
      return { res, cpu: schedCpuMs(pid) - c0 - idlePerMs * (performance.now() - t), main: mainThreadCpuMs(pid) - m0 };
    };
    const jar = new CookieJar();
    const sso = await measured(() => request(`http://acme.localhost:${w.port}/login/sso`, { jar }));
    if (sso.res.status !== 302) throw new Error(`${label}: first /login/sso → ${sso.res.status}`);
    const authz = await request(sso.res.location);
    const cb = await measured(() => request(authz.location, { jar }));
    if (cb.res.status !== 200 || !cb.res.body.includes('name="assertion"')) throw new Error(`${label}: first callback → ${cb.res.status} ${cb.res.body.slice(0, 200)}`);
    return { startup, startupMain, sso: sso.cpu, ssoMain: sso.main, callback: cb.cpu, callbackMain: cb.main };
  } finally {
    await w.stop();
  }
}

async function main() {
  const client = { client_id: `first-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  const staged = [];
  try {
    for (const [i, dir] of builds.entries()) {
      const env = await instance(String.fromCharCode(65 + i), dir, op, client);
      staged.push(env.staged);
      await quickLogin(env.tenantOrigin, env.label);
      await env.w.stop();
    }
    const rows = builds.map(() => []);
    for (let s = 0; s < starts; s += 1) {
      const order = builds.map((_, i) => i);
      if (s % 2) order.reverse();
      for (const i of order) {
        const label = String.fromCharCode(65 + i);
        const m = await freshStart(staged[i], label);
        rows[i].push(m);
        console.error(`start ${s + 1}: ${label} startup ${fmt(m.startup, 1)}, first /login/sso ${fmt(m.sso)} ms, first callback ${fmt(m.callback)} ms CPU`);
      }
    }
    console.log(`${starts} fresh starts per build, builds taking turns; CPU of the worker's workerd (ms), median (every value):`);
    for (const [i, dir] of builds.entries()) {
      const show = (f) => `${fmt(percentile(rows[i].map(f), 50))} (${rows[i].map((r) => fmt(f(r), 1)).join(' ')})`;
      console.log(`  ${String.fromCharCode(65 + i)} ${dir}\n    startup (until quiet)        ${show((r) => r.startup)}\n    … on the main thread         ${show((r) => r.startupMain)}\n    first /login/sso             ${show((r) => r.sso)}\n    … on the main thread         ${show((r) => r.ssoMain)}\n    first callback               ${show((r) => r.callback)}\n    … on the main thread         ${show((r) => r.callbackMain)}`);
    }
  } finally {
    for (const s of staged) unstage(s);
    await op.close();
  }
}

runMain(main);
