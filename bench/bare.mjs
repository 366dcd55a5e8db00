// An isolate's first requests, and warm logins, on a bare workerd: no wrangler, no miniflare,
// no inspector.
//
//   node bench/bare.mjs --build /tmp/before [--build /tmp/after…] [--floor] [--path /healthz]
//                       [--starts 9] [--warm N [--warmup 200]] [--v8-flag F…]
//
// Under `wrangler dev` the worker shares its workerd process with wrangler's proxy,
// miniflare's KV emulation (workers and a SQLite store) and an inspector session: a fresh
// isolate's first request also pays for their first use, and every request for their work.
// Here each build (and, with --floor, bench/floor-worker) runs on the workerd binary wrangler
// ships, from a config this script writes, beside only a 20-line in-memory KV service of its
// own (`KV_SERVICE` below, seeded with the tenant and the IdP metadata a first instance stored
// during a login against the OpenID Provider stub) and loopback access for the token request.
//
// The builds take turns, `--starts` fresh processes each: the process's CPU until quiet
// (workerd's start and the modules' evaluation), then the first `/login/sso` and its
// callback (the floor: its `/login/sso`, the same KV calls), or with `--path` one request to
// that path instead, each read from the scheduler clock (all threads and the main thread,
// 250 ms settle); with `--warm N`, then N whole logins at concurrency 8 after 200 (`--warmup`)
// unmeasured ones (the floor: its `/start` + `/callback`, bench/load.mjs `floorLogin`), CPU per login.
// Medians and every value are printed. `--v8-flag` passes V8 flags to workerd, for
// experiments (e.g. `--no-flush-liftoff-code`; bench/FINDINGS.md).
// Closer to production than bench/first.mjs, whose figures include the dev harness; not a
// replacement for run.mjs, the benchmark under `wrangler dev`.

import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { request } from '../tests/support/http.mjs';
import { floorLogin, pool, quickLogin, tenantBody } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { mainThreadCpuMs, schedCpuMs } from './proc.mjs';
import { fmt, percentile } from './stats.mjs';
import { generateSecrets } from './wrangler.mjs';
import { runMain } from './cli.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const WORKERD = path.join(ROOT, 'node_modules', '.bin', 'workerd');
const SETTLE_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = new Set();

/** Kills every workerd this module started and has not stopped yet. */
export function stopBare() {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

// The KV binding's other end: the HTTP requests workerd's KV client sends (GET, PUT, DELETE of
// `/{key}`, a list on `/`), answered from memory; `/__dump` gives the store to this script.
const KV_SERVICE = `let store;
export default {
  async fetch(req, env) {
    store ??= new Map(Object.entries(JSON.parse(env.SEED)));
    const url = new URL(req.url);
    if (url.pathname === '/__dump') return Response.json(Object.fromEntries(store));
    const raw = url.pathname.slice(1);
    const key = url.searchParams.get('urlencoded') === 'true' ? decodeURIComponent(raw) : raw;
    if (req.method === 'GET' && key === '') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const keys = [...store.keys()].filter((k) => k.startsWith(prefix)).sort().map((name) => ({ name }));
      return Response.json({ keys, list_complete: true });
    }
    if (req.method === 'GET') return store.has(key) ? new Response(store.get(key)) : new Response('Not Found', { status: 404 });
    if (req.method === 'PUT') { store.set(key, await req.text()); return new Response(); }
    if (req.method === 'DELETE') { store.delete(key); return new Response(); }
    return new Response(null, { status: 405 });
  },
};
`;

/** A directory holding the worker's modules, the KV service and a workerd config for them. */
function stage(build, dir, secrets, seed, v8Flags = []) {
  fs.mkdirSync(dir, { recursive: true });
  let modules;
  if (build === 'floor') {
    fs.copyFileSync(path.join(ROOT, 'bench', 'floor-worker', 'index.js'), path.join(dir, 'index.js'));
    modules = '(name = "index.js", esModule = embed "index.js")';
  } else {
    for (const f of ['index.js', 'index_bg.wasm']) fs.copyFileSync(path.join(build, f), path.join(dir, f));
    modules = '(name = "index.js", esModule = embed "index.js"), (name = "index_bg.wasm", wasm = embed "index_bg.wasm")';
  }
  fs.writeFileSync(path.join(dir, 'kv.js'), KV_SERVICE);
  fs.writeFileSync(path.join(dir, 'seed.json'), JSON.stringify(seed));
  const secretBindings = Object.entries(secrets).map(([name, value]) => {
    fs.writeFileSync(path.join(dir, `${name}.secret`), value, { mode: 0o600 });
    return `(name = "${name}", text = embed "${name}.secret")`;
  });
  fs.writeFileSync(path.join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "kv", worker = .kv),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:0", http = (), service = "main"),
    (name = "kvhttp", address = "127.0.0.1:0", http = (), service = "kv"),
  ],
  v8Flags = [ ${v8Flags.map((f) => JSON.stringify(f)).join(', ')} ],
);
const worker :Workerd.Worker = (
  modules = [ ${modules} ],
  compatibilityDate = "2025-06-01",
  bindings = [
    (name = "BASE_DOMAIN", text = "localhost"),
    (name = "LOCAL_DEV", text = "true"),
    (name = "KV", kvNamespace = "kv"),
    ${secretBindings.join(',\n    ')}
  ],
);
const kv :Workerd.Worker = (
  modules = [ (name = "kv.js", esModule = embed "kv.js") ],
  compatibilityDate = "2025-06-01",
  bindings = [ (name = "SEED", text = embed "seed.json") ],
);
`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const connects = (port) =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/** Starts workerd on `dir`; `fn({ pid, port, kvPort })` runs against it; then it is killed. */
async function withWorkerd(dir, fn) {
  const [port, kvPort] = [await freePort(), await freePort()];
  const child = spawn(WORKERD, ['serve', `--socket-addr=http=127.0.0.1:${port}`, `--socket-addr=kvhttp=127.0.0.1:${kvPort}`, 'config.capnp'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i += 1) {
      await sleep(100);
      up = (await connects(port)) && (await connects(kvPort)); // TCP only: nothing reaches an isolate
    }
    if (!up) throw new Error(`workerd did not listen: ${stderr.slice(0, 500)}`);
    return await fn({ pid: child.pid, port, kvPort });
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
    await sleep(100);
  }
}

/** The tenant and the IdP metadata in KV: a first instance's admin PUT and one login. */
async function seedKv(build, dir, secrets, op, client) {
  stage(build, dir, secrets, {});
  return withWorkerd(dir, async ({ port, kvPort }) => {
    const put = await request(`http://localhost:${port}/admin/tenants/acme`, { method: 'PUT', body: tenantBody(op, client), headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, accept: 'application/json' } });
    if (put.status !== 201) throw new Error(`PUT tenant → ${put.status} ${put.body.slice(0, 300)}`);
    await quickLogin(`http://acme.localhost:${port}`);
    const dump = await request(`http://127.0.0.1:${kvPort}/__dump`);
    const seed = Object.fromEntries(Object.entries(JSON.parse(dump.body)).filter(([k]) => k.startsWith('tenant:') || k.startsWith('idp:')));
    if (!seed['tenant:acme'] || Object.keys(seed).length !== 2) throw new Error(`unexpected KV after the seeding login: ${Object.keys(seed)}`);
    return seed;
  });
}

/** CPU per login of `warmLogins` logins at concurrency 8, after `warmupLogins` unmeasured. */
async function warm(pid, oneLogin, { warmLogins, warmupLogins }) {
  await pool(warmupLogins, 8, oneLogin);
  const c0 = schedCpuMs(pid);
  await pool(warmLogins, 8, oneLogin);
  return (schedCpuMs(pid) - c0) / warmLogins;
}

/** One fresh process: its CPU until quiet, then its first requests'. */
async function freshStart(build, dir, seed, opOrigin, o) {
  return withWorkerd(dir, async ({ pid, port }) => {
    let prev = schedCpuMs(pid);
    for (let i = 0; i < 30; i += 1) {
      await sleep(500);
      const now = schedCpuMs(pid);
      if (now - prev < 1) break;
      prev = now;
    }
    const out = { startup: schedCpuMs(pid), startupMain: mainThreadCpuMs(pid) };
    const measured = async (send) => {
      const [c0, m0] = [schedCpuMs(pid), mainThreadCpuMs(pid)];
      const res = await send();
      await sleep(SETTLE_MS);
      return { res, cpu: schedCpuMs(pid) - c0, main: mainThreadCpuMs(pid) - m0 };
    };
    if (o.onlyPath !== null) {
      const first = await measured(() => request(`http://localhost:${port}${o.onlyPath}`));
      if (first.res.status !== 200) throw new Error(`${build}: ${o.onlyPath} → ${first.res.status}`);
      return { ...out, first: first.cpu, firstMain: first.main };
    }
    if (build === 'floor') {
      const idpKey = Object.keys(seed).find((k) => k.startsWith('idp:'));
      const q = `tenant_key=${encodeURIComponent('tenant:acme')}&idp_key=${encodeURIComponent(idpKey)}`;
      const first = await measured(() => request(`http://acme.localhost:${port}/login/sso?${q}`));
      if (first.res.status !== 302) throw new Error(`floor: /login/sso → ${first.res.status}`);
      const result = { ...out, first: first.cpu, firstMain: first.main };
      if (o.warmLogins > 0) result.warm = await warm(pid, floorLogin(`http://localhost:${port}`, opOrigin), o);
      return result;
    }
    const { sso, cb } = await quickLogin(`http://acme.localhost:${port}`, 'worker', measured);
    const result = { ...out, first: sso.cpu, firstMain: sso.main, callback: cb.cpu, callbackMain: cb.main };
    if (o.warmLogins > 0) result.warm = await warm(pid, () => quickLogin(`http://acme.localhost:${port}`), o);
    return result;
  });
}

/**
 * Fresh processes of each of `builds` (a build directory, or 'floor'), taking turns, `starts`
 * each. Returns, per build, one result per process: { startup, startupMain, first, firstMain,
 * callback?, callbackMain?, warm? } (ms CPU; warm per login).
 */
export async function bareRuns({ builds, starts, onlyPath = null, warmLogins = 0, warmupLogins = 200, v8Flags = [], log = () => {} }) {
  const o = { onlyPath, warmLogins, warmupLogins };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portal-sso-bare-'));
  const client = { client_id: `bare-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  try {
    const secrets = generateSecrets();
    const worker = builds.find((b) => b !== 'floor');
    if (!worker) throw new Error('bare.mjs needs one worker build to seed KV with');
    const seed = await seedKv(worker, path.join(tmp, 'seed'), secrets, op, client);
    const dirs = builds.map((b, i) => {
      const dir = path.join(tmp, String(i));
      stage(b, dir, secrets, seed, v8Flags);
      return dir;
    });
    const rows = builds.map(() => []);
    for (let s = 0; s < starts; s += 1) {
      const order = builds.map((_, i) => i);
      if (s % 2) order.reverse();
      for (const i of order) {
        const m = await freshStart(builds[i], dirs[i], seed, op.origin, o);
        rows[i].push(m);
        const cb = m.callback === undefined ? '' : `, first callback ${fmt(m.callback)}`;
        const w = m.warm === undefined ? '' : `, warm ${fmt(m.warm, 3)} per login`;
        log(`bare start ${s + 1}: ${builds[i]} startup ${fmt(m.startup, 1)}, first request ${fmt(m.first)}${cb}${w} ms CPU`);
      }
    }
    return rows;
  } finally {
    stopBare();
    await op.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function cli() {
  const args = process.argv.slice(2);
  const builds = args.flatMap((a, i) => (a === '--build' ? [path.resolve(args[i + 1])] : []));
  const at = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
  const starts = Number(at('--starts', 9));
  const onlyPath = at('--path', null);
  const v8Flags = args.flatMap((a, i) => (a === '--v8-flag' ? [args[i + 1]] : []));
  const warmLogins = Number(at('--warm', 0));
  const warmupLogins = Number(at('--warmup', 200));
  if (args.includes('--floor')) builds.push('floor');
  if (builds.length < 1 || builds[0] === 'floor' || !(starts >= 1) || (onlyPath !== null && !onlyPath.startsWith('/'))) {
    console.error('usage: node bench/bare.mjs --build DIR [--build DIR…] [--floor] [--path /healthz] [--starts 9] [--warm N [--warmup 200]] [--v8-flag F…]');
    process.exit(2);
  }
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      stopBare();
      process.exit(130);
    });
  }
  const rows = await bareRuns({ builds, starts, onlyPath, warmLogins, warmupLogins, v8Flags, log: (l) => console.error(l) });
  const first = onlyPath ?? '/login/sso';
  console.log(`${starts} fresh bare workerd processes per build, taking turns; CPU (ms), median (every value):`);
  for (const [i, b] of builds.entries()) {
    const show = (f) => `${fmt(percentile(rows[i].map(f), 50))} (${rows[i].map((r) => fmt(f(r), 1)).join(' ')})`;
    const lines = [`  ${b}`, `    startup (until quiet)   ${show((r) => r.startup)}`, `    … on the main thread    ${show((r) => r.startupMain)}`, `    first ${first.padEnd(18)}${show((r) => r.first)}`, `    … on the main thread    ${show((r) => r.firstMain)}`];
    if (rows[i][0].callback !== undefined) lines.push(`    first callback          ${show((r) => r.callback)}`, `    … on the main thread    ${show((r) => r.callbackMain)}`);
    if (rows[i][0].warm !== undefined) lines.push(`    warm login, per login   ${fmt(percentile(rows[i].map((r) => r.warm), 50), 3)} (${rows[i].map((r) => fmt(r.warm, 3)).join(' ')})`);
    console.log(lines.join('\n'));
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) runMain(cli);
