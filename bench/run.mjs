#!/usr/bin/env node
// The benchmark (issue 7): node bench/run.mjs [--logins K] [--concurrency C] [--runs R]
//
// On this machine, in one run: a fast OpenID Provider stub (bench/op-stub.mjs) and the worker
// under `wrangler dev` (bench/wrangler.mjs), K complete logins at concurrency C
// (/login/sso → stub authorize → callback → handoff page), the harness floor measured the
// same way, the first request in a fresh isolate, and the wasm size. Repeated R times; the
// Markdown table (median and min–max over runs) goes to bench/results/latest.md and stdout,
// the raw numbers to bench/results/latest.json. Everything listens on 127.0.0.1 and is
// stopped at the end, on error and on Ctrl-C.

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { CookieJar, parseForms, request } from '../tests/support/http.mjs';
import { pool as boundedPool, floorLogin, KV_NAMESPACE_ID, warmHarness } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { alive, clockTicksPerSecond, diff, schedCpuMs, snapshot } from './proc.mjs';
import { fmt, fmtSpread, median, percentile, spread } from './stats.mjs';
import { REPO_ROOT, findWorkerd, killAllSync, stage, stageFloor, startWrangler, unstage } from './wrangler.mjs';
import { bareRuns, stopBare } from './bare.mjs';

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { logins: 400, concurrency: 8, runs: 3, floorRequests: null, warmup: null, out: path.join(REPO_ROOT, 'bench', 'results', 'latest.md'), fresh: true, pairedRounds: 12, pairedLogins: 200, bareStarts: 5, bareWarm: 1000 };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--logins' || a === '-k') o.logins = num();
    else if (a === '--concurrency' || a === '-c') o.concurrency = num();
    else if (a === '--runs' || a === '-r') o.runs = num();
    else if (a === '--floor-requests') o.floorRequests = num();
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--out') o.out = path.resolve(argv[++i]);
    else if (a === '--no-fresh') o.fresh = false;
    else if (a === '--bare-starts') o.bareStarts = num();
    else if (a === '--no-bare') o.bareStarts = 0;
    else if (a === '--paired-rounds') o.pairedRounds = num();
    else if (a === '--paired-logins') o.pairedLogins = num();
    else if (a === '--kv-ops-per-login') o.kvOpsPerLogin = num();
    else if (a === '--help' || a === '-h') {
      console.log('usage: node bench/run.mjs [--logins K=400] [--concurrency C=8] [--runs R=3] [--floor-requests N=max(1000,K)] [--warmup W] [--no-fresh] [--bare-starts 5 | --no-bare] [--paired-rounds 12] [--paired-logins 200] [--kv-ops-per-login 4] [--out FILE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  o.floorRequests ??= Math.max(1000, o.logins);
  if (o.kvOpsPerLogin) KV_OPS_PER_LOGIN = o.kvOpsPerLogin;
  o.warmup ??= Math.max(4 * o.concurrency, Math.ceil(o.logins / 10));
  return o;
}

const SETTLE_MS = 250; // after a phase's last response, before the closing CPU reading
const IDLE_MS = 3_000; // idle-rate window per run
let KV_OPS_PER_LOGIN = 4; // see method notes: 1 put at /login/sso; get + delete + session put at the callback
const REQUESTS_PER_LOGIN = 2; // /login/sso and the callback (the stub's authorize is not the worker)

// ---------------------------------------------------------------------------------------------
// Cleanup on exit, error and signals

const cleanups = [];
let stopping = false;
let cleaning = null;
/** Runs every cleanup once, newest first; concurrent callers share the same pass. */
function cleanupAll() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const fn = cleanups.pop();
      try {
        await fn();
      } catch (e) {
        console.error(`cleanup: ${e.message}`);
      }
    }
  })().finally(() => {
    cleaning = null;
  });
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (stopping) {
      killAllSync();
      process.exit(130);
    }
    stopping = true;
    console.error(`\n${sig}: stopping the benchmark…`);
    cleanupAll().finally(() => process.exit(130));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(...a);

// ---------------------------------------------------------------------------------------------
// Load generation

/** Runs `task(i)` n times with at most c in flight; stops (and throws) when interrupted. */
const pool = (n, c, task) => boundedPool(n, c, task, () => stopping);

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function fail(what, res) {
  const body = (res?.body ?? '').replace(/\s+/g, ' ').slice(0, 400);
  return new Error(`${what}: ${res ? `${res.method} ${res.url} → ${res.status}${res.location ? ` (${res.location})` : ''} ${body}` : 'no response'}`);
}

/** One complete login; returns latencies in ms. Throws when any step is not what a browser would get. */
async function login(env) {
  const jar = new CookieJar();
  const t0 = performance.now();
  const start = await request(`${env.tenantOrigin}/login/sso`, { jar });
  const t1 = performance.now();
  if (start.status !== 302 || !start.location?.startsWith(`${env.op.issuer}/v1/authorize?`)) throw fail('/login/sso did not redirect to the stub', start);
  if (!jar.header(env.tenantOrigin + '/authorization-code/callback')) throw fail('/login/sso set no binding cookie', start);
  const authz = await request(start.location);
  if (authz.status !== 302 || !authz.location) throw fail('stub authorize', authz);
  const cbUrl = new URL(authz.location);
  if (cbUrl.host !== new URL(env.tenantOrigin).host || cbUrl.pathname !== '/authorization-code/callback') throw fail('stub redirected elsewhere', authz);
  const t2 = performance.now();
  const cb = await request(cbUrl.href, { jar });
  const t3 = performance.now();
  if (cb.status !== 200) throw fail('callback', cb);
  const form = parseForms(cb.body, cb.url).find((f) => f.method === 'POST' && f.fields.has('assertion'));
  if (!form || form.action !== `${env.portalUrl}/sso/assertion`) throw fail('callback page has no handoff form', cb);
  const claims = b64urlJson(form.fields.get('assertion').split('.')[1] ?? '');
  if (claims.tenant !== env.tenant || claims.email !== env.op.member.email || claims.aud !== env.portalUrl) throw fail(`unexpected assertion claims ${JSON.stringify(claims)}`, cb);
  return { sso: t1 - t0, callback: t3 - t2, total: t3 - t0 };
}

async function logins(env, n, c) {
  const lat = { sso: [], callback: [], total: [] };
  await pool(n, c, async () => {
    const l = await login(env);
    lat.sso.push(l.sso);
    lat.callback.push(l.callback);
    lat.total.push(l.total);
  });
  return lat;
}

/** The floor requests: each returns a request() promise and a check. */
function floorDefs(env) {
  const explorer = `${env.apex}/cdn-cgi/explorer/api/storage/kv/namespaces/${KV_NAMESPACE_ID}/values`;
  const kvValue = crypto.randomBytes(450).toString('base64');
  const admin = { authorization: `Bearer ${env.adminToken}`, accept: 'application/json' };
  return {
    empty: {
      label: 'GET /healthz (apex)',
      send: () => request(`${env.apex}/healthz`),
      ok: (r) => r.status === 200 && r.body.trim() === 'ok',
    },
    page: {
      label: 'GET /login/logout (apex, no state: signed-out page, no KV)',
      send: () => request(`${env.apex}/login/logout`),
      ok: (r) => r.status === 200,
    },
    kv: {
      label: 'GET /login/logout?state=<random> (apex: same page + 1 KV get, a miss)',
      send: () => request(`${env.apex}/login/logout?state=${crypto.randomBytes(16).toString('base64url')}`),
      ok: (r) => r.status === 200,
    },
    checkNone: {
      label: 'POST /admin/tenants/<unknown>/check (auth + 1 KV get, 404)',
      send: () => request(`${env.apex}/admin/tenants/bench-none/check`, { method: 'POST', headers: admin }),
      ok: (r) => r.status === 404,
    },
    checkOne: {
      label: 'POST /admin/tenants/floor/check (auth + 1 KV get + 1 subrequest: discovery 404)',
      send: () => request(`${env.apex}/admin/tenants/floor/check`, { method: 'POST', headers: admin }),
      ok: (r) => r.status === 200 && r.json().ok === false,
    },
    checkTwo: {
      label: 'POST /admin/tenants/acme/check (auth + 1 KV get + 2 subrequests: discovery, JWKS)',
      send: () => request(`${env.apex}/admin/tenants/acme/check`, { method: 'POST', headers: admin }),
      ok: (r) => r.status === 200 && r.json().ok === true,
    },
    // KV operation kinds, through miniflare's local explorer (its own worker, not ours): the
    // differences from exMiss are what a put, a hit or a delete costs the KV emulation more
    // than the get-miss of the KV floor.
    exMiss: {
      label: 'explorer: KV get, a miss',
      send: () => request(`${explorer}/bench-miss-${crypto.randomBytes(8).toString('hex')}`),
      ok: (r) => r.status === 404,
    },
    exHit: {
      label: 'explorer: KV get, a hit (the tenant record)',
      send: () => request(`${explorer}/${encodeURIComponent(`tenant:${env.tenant}`)}`),
      ok: (r) => r.status === 200,
    },
    exPut: {
      label: 'explorer: KV put (600 bytes)',
      send: (i) => request(`${explorer}/bench-kv-${i}?expiration_ttl=600`, { method: 'PUT', body: kvValue, headers: { 'content-type': 'text/plain' } }),
      ok: (r) => r.status === 200,
    },
    exDelete: {
      label: 'explorer: KV delete (of a key just put)',
      send: (i) => request(`${explorer}/bench-kv-${i}`, { method: 'DELETE' }),
      ok: (r) => r.status === 200,
    },
  };
}

async function requests(def, n, c) {
  const lat = [];
  await pool(n, c, async (i) => {
    const t0 = performance.now();
    const r = await def.send(i);
    lat.push(performance.now() - t0);
    if (!def.ok(r)) throw fail(def.label, r);
  });
  return lat;
}

// ---------------------------------------------------------------------------------------------
// CPU measurement

/** Idle CPU rate (ms of CPU per s) of each pid, from the ns-resolution scheduler clock. */
async function idleRate(pids, ms) {
  const b = snapshot(pids);
  await sleep(ms);
  const d = diff(b, snapshot(pids));
  const out = {};
  for (const pid of pids) out[pid] = d.cpu[pid].sched / (d.wallMs / 1000);
  out.main = {};
  for (const pid of pids) out.main[pid] = d.cpu[pid].main / (d.wallMs / 1000);
  return out;
}

/**
 * Runs fn between two CPU readings (the closing one SETTLE_MS after fn resolves, so trailing
 * work is counted) and subtracts the idle rate over the whole window.
 * Returns { result, wallMs, windowMs, cpu: { [pid]: { stat, sched } } } (ms, idle removed).
 */
async function measure(pids, idle, fn) {
  const b = snapshot(pids);
  const t0 = performance.now();
  const result = await fn();
  const wallMs = performance.now() - t0;
  await sleep(SETTLE_MS);
  const d = diff(b, snapshot(pids));
  const cpu = {};
  for (const pid of pids) {
    const idleMs = ((idle?.[pid] ?? 0) * d.wallMs) / 1000;
    const idleMainMs = ((idle?.main?.[pid] ?? 0) * d.wallMs) / 1000;
    cpu[pid] = { stat: d.cpu[pid].stat - idleMs, sched: d.cpu[pid].sched - idleMs, main: d.cpu[pid].main - idleMainMs, rawStat: d.cpu[pid].stat };
  }
  return { result, wallMs, windowMs: d.wallMs, cpu };
}

function opDelta(before, after) {
  const out = {};
  for (const k of Object.keys(after)) out[k] = after[k] - before[k];
  return out;
}

// ---------------------------------------------------------------------------------------------
// One run

async function admin(env, method, pathname, body) {
  return request(`${env.apex}${pathname}`, { method, body, headers: { authorization: `Bearer ${env.adminToken}`, accept: 'application/json' } });
}

function tenantConfig(env, fields) {
  return {
    enabled: true,
    ...fields,
    idp_id: null,
    client_id: env.client.client_id,
    client_secret: env.client.client_secret,
    token_endpoint_auth_method: 'client_secret_basic',
    provision_new_users: false,
    password_login_disabled: false,
    allow_unverified_email: false,
    portal_url: env.portalUrl,
    handoff_path: '/sso/assertion',
    provisioning_webhook_url: null,
    custom_domains: [],
    redirect_uri: null,
    post_logout_redirect_uri: null,
  };
}

async function waitHealthy(apex, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until && !stopping) {
    try {
      const r = await request(`${apex}/healthz`, { timeoutMs: 5_000 });
      if (r.status === 200) return;
      last = `${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(200);
  }
  throw new Error(`worker not healthy after ${timeoutMs} ms (${last})`);
}

async function startInstance(ctx, persistTo, staged = ctx.staged) {
  const w = await startWrangler({ staged, persistTo });
  const { port } = w;
  ctx.allWorkerdPids.push(...w.workerdPids);
  cleanups.push(() => w.stop());
  const env = {
    ...ctx.base,
    port,
    apex: `http://localhost:${port}`,
    tenantOrigin: `http://${ctx.base.tenant}.localhost:${port}`,
    wrangler: w,
    pid: w.pids.worker,
    proxyPid: w.pids.proxy,
  };
  return env;
}

async function oneRun(ctx, r) {
  const o = ctx.opts;
  const persistTo = path.join(ctx.staged.dir, `state-${r}`);
  const env = await startInstance(ctx, persistTo);
  const pids = [env.pid, env.proxyPid].filter(Boolean);
  log(`run ${r}: wrangler dev on :${env.port}; worker workerd pid ${env.pid}, proxy workerd pid ${env.proxyPid} (${env.wrangler.pids.all.length} workerd under wrangler)`);
  const out = { run: r, workerdPid: env.pid, proxyPid: env.proxyPid, workerdCount: env.wrangler.pids.all.length };
  try {
    await waitHealthy(env.apex);
    for (const [id, fields] of [[env.tenant, env.op.tenantFields()], ['floor', env.op.tenantFields('nodisco')]]) {
      const res = await admin(env, 'PUT', `/admin/tenants/${id}`, tenantConfig(env, fields));
      if (res.status !== 201) throw fail(`PUT /admin/tenants/${id}`, res);
    }
    // The pid must still be the one serving (re-derive; a reload would start another process).
    const again = findWorkerd(env.wrangler.child.pid, env.port, persistTo);
    if (again.worker !== env.pid) throw new Error(`the worker's workerd changed from ${env.pid} to ${again.worker}`);

    // Warm-up: logins (fills the isolate's tenant / discovery / JWKS caches, JIT) and each floor request.
    await logins(env, o.warmup, o.concurrency);
    // First the paired comparison, while the worker's KV store holds about as much as the
    // floor worker's fresh one (the phases below write thousands of keys).
    if (!stopping) out.paired = await pairedFloor(ctx, r, env);
    const defs = floorDefs(env);
    for (const def of Object.values(defs)) await requests(def, Math.max(2 * o.concurrency, 40), o.concurrency);

    out.idle = await idleRate(pids, IDLE_MS);

    // K logins.
    const opBefore = env.op.snapshot();
    const m = await measure(pids, out.idle, () => logins(env, o.logins, o.concurrency));
    const opLogin = opDelta(opBefore, env.op.snapshot());
    out.login = {
      wallMs: m.wallMs,
      loginsPerSec: o.logins / (m.wallMs / 1000),
      cpuMs: m.cpu[env.pid].stat,
      cpuMsSched: m.cpu[env.pid].sched,
      cpuMsMain: m.cpu[env.pid].main,
      proxyCpuMs: env.proxyPid ? m.cpu[env.proxyPid].stat : null,
      p50: { sso: percentile(m.result.sso, 50), callback: percentile(m.result.callback, 50), total: percentile(m.result.total, 50) },
      p99: { sso: percentile(m.result.sso, 99), callback: percentile(m.result.callback, 99), total: percentile(m.result.total, 99) },
      op: opLogin,
      subrequestsPerLogin: (opLogin.discovery + opLogin.jwks + opLogin.token + opLogin.userinfo + opLogin.notFound) / o.logins,
    };
    out.login.cpuPerLogin = out.login.cpuMs / o.logins;
    out.login.cpuPerLoginSched = out.login.cpuMsSched / o.logins;
    out.login.cpuPerLoginMain = out.login.cpuMsMain / o.logins;
    out.login.proxyCpuPerLogin = out.login.proxyCpuMs === null ? null : out.login.proxyCpuMs / o.logins;
    log(`run ${r}: ${o.logins} logins in ${fmt(m.wallMs / 1000)} s (${fmt(out.login.loginsPerSec, 1)}/s), workerd CPU ${fmt(out.login.cpuPerLogin, 3)} ms/login`);

    // The same logins split by route, to see where the CPU goes: K starts (/login/sso and the
    // stub's authorize, which is not in workerd), then the K callbacks, each phase measured alone.
    const started = [];
    const mStart = await measure(pids, out.idle, () =>
      pool(o.logins, o.concurrency, async () => {
        const jar = new CookieJar();
        const start = await request(`${env.tenantOrigin}/login/sso`, { jar });
        if (start.status !== 302) throw fail('split phase: /login/sso', start);
        const authz = await request(start.location);
        if (authz.status !== 302) throw fail('split phase: stub authorize', authz);
        started.push({ jar, callbackUrl: authz.location });
      }),
    );
    const opBeforeCb = env.op.snapshot();
    const mCb = await measure(pids, out.idle, () =>
      pool(started.length, o.concurrency, async (i) => {
        const cb = await request(started[i].callbackUrl, { jar: started[i].jar });
        if (cb.status !== 200 || !parseForms(cb.body, cb.url).some((f) => f.fields.has('assertion'))) throw fail('split phase: callback', cb);
      }),
    );
    const opCb = opDelta(opBeforeCb, env.op.snapshot());
    out.split = {
      ssoCpu: mStart.cpu[env.pid].stat / o.logins,
      callbackCpu: mCb.cpu[env.pid].stat / o.logins,
      callbackSubrequests: (opCb.discovery + opCb.jwks + opCb.token + opCb.userinfo + opCb.notFound) / o.logins,
    };

    // Floors, each N requests at the same concurrency.
    out.floors = {};
    for (const [name, def] of Object.entries(defs)) {
      const before = env.op.snapshot();
      const fm = await measure(pids, out.idle, () => requests(def, o.floorRequests, o.concurrency));
      const ops = opDelta(before, env.op.snapshot());
      out.floors[name] = {
        label: def.label,
        n: o.floorRequests,
        cpuPerRequest: fm.cpu[env.pid].stat / o.floorRequests,
        cpuPerRequestSched: fm.cpu[env.pid].sched / o.floorRequests,
        proxyCpuPerRequest: env.proxyPid ? fm.cpu[env.proxyPid].stat / o.floorRequests : null,
        p50: percentile(fm.result, 50),
        subrequestsPerRequest: (ops.discovery + ops.jwks + ops.token + ops.userinfo + ops.notFound) / o.floorRequests,
      };
    }
    const f = out.floors;
    out.floor = {
      request: f.empty.cpuPerRequest,
      kv: f.kv.cpuPerRequest - f.page.cpuPerRequest,
      subrequest: (f.checkOne.cpuPerRequest - f.checkNone.cpuPerRequest) / (f.checkOne.subrequestsPerRequest || 1),
      subrequestAlt: (f.checkTwo.cpuPerRequest - f.checkNone.cpuPerRequest) / (f.checkTwo.subrequestsPerRequest || 2),
    };
    out.floor.perLogin = REQUESTS_PER_LOGIN * out.floor.request + KV_OPS_PER_LOGIN * out.floor.kv + out.login.subrequestsPerLogin * out.floor.subrequest;
    out.aboveFloor = out.login.cpuPerLogin - out.floor.perLogin;
    // Refined: what each KV operation kind costs the emulation beyond a get-miss (explorer differences).
    out.floor.putExtra = f.exPut.cpuPerRequest - f.exMiss.cpuPerRequest;
    out.floor.hitExtra = f.exHit.cpuPerRequest - f.exMiss.cpuPerRequest;
    out.floor.deleteExtra = f.exDelete.cpuPerRequest - f.exMiss.cpuPerRequest;
    // A login: put (pending) at /login/sso; get-hit + delete (pending) and put (session) at the callback.
    out.floor.perLoginByKind = out.floor.perLogin + 2 * out.floor.putExtra + out.floor.hitExtra + out.floor.deleteExtra;
    out.aboveFloorByKind = out.login.cpuPerLogin - out.floor.perLoginByKind;
    // Per route: /login/sso = 1 request + 1 KV put; callback = 1 request + 3 KV ops + its subrequests.
    out.split.ssoAboveFloor = out.split.ssoCpu - out.floor.request - 1 * out.floor.kv;
    out.split.callbackAboveFloor = out.split.callbackCpu - out.floor.request - (KV_OPS_PER_LOGIN - 1) * out.floor.kv - out.split.callbackSubrequests * out.floor.subrequest;
    out.split.ssoAboveFloorByKind = out.split.ssoAboveFloor - out.floor.putExtra;
    out.split.callbackAboveFloorByKind = out.split.callbackAboveFloor - out.floor.putExtra - out.floor.hitExtra - out.floor.deleteExtra;
    log(`run ${r}: floor request ${fmt(out.floor.request, 3)} ms, KV op ${fmt(out.floor.kv, 3)} ms, subrequest ${fmt(out.floor.subrequest, 3)} ms → above floor ${fmt(out.aboveFloor, 3)} ms/login`);

    if (!alive(env.pid)) throw new Error(`the worker's workerd ${env.pid} died during the run`);
    const after = findWorkerd(env.wrangler.child.pid, env.port, persistTo);
    if (after.worker !== env.pid) throw new Error(`the worker's workerd changed during the run (${env.pid} → ${after.worker})`);
  } finally {
    await env.wrangler.stop();
  }

  if (!stopping) out.jsFloor = await jsFloor(ctx, r, out);
  if (o.fresh && !stopping) out.fresh = await freshIsolate(ctx, persistTo, r, out.floor);
  return out;
}

/**
 * The worker and the JavaScript floor worker side by side (each under its own `wrangler dev`,
 * both started before the first round) taking turns: `pairedRounds` rounds of `pairedLogins`
 * logins on each, the order alternating, each batch's CPU read from its own workerd. The
 * per-round difference cancels the drift of a shared machine, which moves both figures by
 * more than the difference between phases measured minutes apart.
 */
async function pairedFloor(ctx, r, worker) {
  const o = ctx.opts;
  const floor = await startInstance(ctx, path.join(ctx.staged.dir, `state-${r}-paired`), ctx.floorStaged);
  try {
    await waitHealthy(floor.apex);
    const jsLogin = floorLogin(floor.apex, floor.op.origin);
    await pool(Math.max(4 * o.concurrency, 40), o.concurrency, jsLogin);
    await logins(worker, Math.max(4 * o.concurrency, 40), o.concurrency);
    const pids = [worker.pid, floor.pid];
    const idle = await idleRate(pids, IDLE_MS);
    const sides = {
      worker: { pid: worker.pid, batch: () => logins(worker, o.pairedLogins, o.concurrency) },
      floor: { pid: floor.pid, batch: () => pool(o.pairedLogins, o.concurrency, jsLogin) },
    };
    const rounds = [];
    for (let i = 0; i < o.pairedRounds && !stopping; i += 1) {
      const row = {};
      for (const name of i % 2 === 0 ? ['worker', 'floor'] : ['floor', 'worker']) {
        const side = sides[name];
        const m = await measure(pids, idle, side.batch);
        // The scheduler clock (ns), not /proc stat ticks: a batch is a few hundred ms.
        row[name] = m.cpu[side.pid].sched / o.pairedLogins;
      }
      row.above = row.worker - row.floor;
      row.ratio = row.worker / row.floor;
      rounds.push(row);
    }
    const above = rounds.map((x) => x.above);
    const out = {
      rounds,
      worker: percentile(rounds.map((x) => x.worker), 50),
      floor: percentile(rounds.map((x) => x.floor), 50),
      above: median(above),
      // The machine's drift scales both workers alike: the ratio compares across hours.
      ratio: median(rounds.map((x) => x.ratio)),
      aboveMin: Math.min(...above),
      aboveMax: Math.max(...above),
    };
    log(`run ${r}: paired with the JavaScript floor, ${rounds.length} rounds × ${o.pairedLogins} logins: worker ${fmt(out.worker, 3)}, floor ${fmt(out.floor, 3)}, worker above it ${fmt(out.above, 3)} (${fmt(out.aboveMin, 3)}–${fmt(out.aboveMax, 3)}) ms/login`);
    return out;
  } finally {
    await floor.wrangler.stop();
  }
}

/**
 * The harness floor measured with bench/floor-worker, a JavaScript worker making one kind of
 * runtime call per route (its own `wrangler dev` and KV directory, started after the worker's
 * has stopped): an empty request, a KV read that hits, a KV write, a KV delete, a subrequest
 * shaped like the token exchange (form POST, ~1.5 KB JSON answer from the stub). A login makes
 * 2 requests, 2 writes, 1 hit, 1 delete and `subrequestsPerLogin` subrequests.
 */
async function jsFloor(ctx, r, run) {
  const o = ctx.opts;
  const persistTo = path.join(ctx.staged.dir, `state-${r}-floor`);
  const env = await startInstance(ctx, persistTo, ctx.floorStaged);
  try {
    await waitHealthy(env.apex);
    const get = (p) => request(`${env.apex}${p}`);
    const okBody = (r2, body) => r2.status === 200 && r2.body === body;
    if (!okBody(await get('/kv/put?key=floor-hit'), 'ok')) throw new Error('floor worker: seeding the hit key failed');
    const fetchUrl = encodeURIComponent(`${env.op.origin}/floor/token`);
    const defs = {
      empty: { label: 'GET /healthz', send: () => get('/healthz'), ok: (x) => okBody(x, 'ok') },
      hit: { label: 'GET /kv/get?key=<present>', send: () => get('/kv/get?key=floor-hit'), ok: (x) => okBody(x, 'hit') },
      put: { label: 'GET /kv/put?key=<new>', send: (i) => get(`/kv/put?key=floor-${i}`), ok: (x) => okBody(x, 'ok') },
      del: { label: 'GET /kv/delete?key=<just put>', send: (i) => get(`/kv/delete?key=floor-${i}`), ok: (x) => okBody(x, 'ok') },
      fetch: { label: 'GET /fetch (form POST to the stub, JSON answer)', send: () => get(`/fetch?url=${fetchUrl}`), ok: (x) => okBody(x, 'ok') },
    };
    for (const def of Object.values(defs)) await requests(def, Math.max(2 * o.concurrency, 40), o.concurrency);
    // Warm-up put/delete used keys floor-0…; measure on fresh ones.
    const offset = 1_000_000;
    const idle = await idleRate([env.pid], IDLE_MS);
    const out = { perRequest: {} };
    for (const [name, def] of Object.entries(defs)) {
      const d = { ...def, send: (i) => def.send(i + offset) };
      const fm = await measure([env.pid], idle, () => requests(d, o.floorRequests, o.concurrency));
      out.perRequest[name] = { label: def.label, cpu: fm.cpu[env.pid].stat / o.floorRequests, p50: percentile(fm.result, 50) };
    }
    // The callback's runtime calls in one JavaScript request, on pending keys put beforehand.
    const cbKeys = o.floorRequests;
    await requests({ label: 'seed pending', send: (i) => get(`/kv/put?key=cb-${i}`), ok: (x) => okBody(x, 'ok') }, cbKeys, o.concurrency);
    const cbDef = { label: 'GET /callback', send: (i) => get(`/callback?key=cb-${i}&url=${fetchUrl}`), ok: (x) => x.status === 200 && x.body.includes('name="assertion"') };
    const cm = await measure([env.pid], idle, () => requests(cbDef, cbKeys, o.concurrency));
    out.perRequest.callback = { label: cbDef.label, cpu: cm.cpu[env.pid].stat / cbKeys, p50: percentile(cm.result, 50) };
    // A whole JavaScript login, the worker's runtime calls in the worker's order: /start (KV
    // write, 302 + cookie) then /callback on the key it wrote, the same number at the same
    // concurrency as the worker's timed logins.
    const jsLogin = floorLogin(env.apex, env.op.origin);
    await pool(Math.max(4 * o.concurrency, 40), o.concurrency, jsLogin);
    const lm = await measure([env.pid], idle, () => pool(o.logins, o.concurrency, jsLogin));
    out.loginWhole = lm.cpu[env.pid].stat / o.logins;
    out.aboveLoginWhole = run.login.cpuPerLogin - out.loginWhole;
    const c = (k) => out.perRequest[k].cpu;
    const E = c('empty');
    out.request = E;
    out.putExtra = c('put') - E;
    out.hitExtra = c('hit') - E;
    out.deleteExtra = c('del') - E;
    out.subrequest = c('fetch') - E;
    const subs = run.login.subrequestsPerLogin;
    out.perLogin = REQUESTS_PER_LOGIN * E + 2 * out.putExtra + out.hitExtra + out.deleteExtra + subs * out.subrequest;
    out.aboveFloor = run.login.cpuPerLogin - out.perLogin;
    out.ssoAbove = run.split.ssoCpu - (E + out.putExtra);
    out.callbackAbove = run.split.callbackCpu - (E + out.hitExtra + out.deleteExtra + out.putExtra + run.split.callbackSubrequests * out.subrequest);
    out.callbackWhole = c('callback');
    out.callbackAboveWhole = run.split.callbackCpu - out.callbackWhole;
    log(`run ${r}: JavaScript floor: request ${fmt(E, 3)}, put +${fmt(out.putExtra, 3)}, hit +${fmt(out.hitExtra, 3)}, delete +${fmt(out.deleteExtra, 3)}, subrequest +${fmt(out.subrequest, 3)} ms → ${fmt(out.perLogin, 3)} ms/login; worker above it ${fmt(out.aboveFloor, 3)} ms/login`);
    return out;
  } finally {
    await env.wrangler.stop();
  }
}

/**
 * Starts `wrangler dev` again on the same KV state (tenant and the IdP metadata cached in KV
 * by the previous instance, nothing in memory), optionally warms the harness, waits until the
 * new workerd is quiet, measures its idle rate, then hands `fn` a `first(send)` that measures
 * one request: CPU from the scheduler clock (ns), SETTLE_MS after the response, idle removed.
 * No request reaches the worker's isolate before the first measured one.
 */
async function freshInstance(ctx, persistTo, { prewarm, staged = ctx.staged }, fn) {
  const env = await startInstance(ctx, persistTo, staged);
  const pid = env.pid;
  try {
    const quiet = async () => {
      // Quiet = < 2 ms CPU over 1 s; at most 30 s.
      const until = Date.now() + 30_000;
      let prev = schedCpuMs(pid);
      while (Date.now() < until && !stopping) {
        await sleep(1_000);
        const now = schedCpuMs(pid);
        if (now - prev < 2) return { settled: true, cpu: now };
        prev = now;
      }
      return { settled: false, cpu: prev };
    };
    const startup = await quiet();
    let prewarmCpuMs = null;
    if (prewarm) {
      await warmHarness(env.apex, env.tenant);
      prewarmCpuMs = (await quiet()).cpu - startup.cpu;
    }
    const idle = await idleRate([pid], 2_000);
    const first = async (send) => {
      const m = await measure([pid], idle, send);
      return { res: m.result, cpu: m.cpu[pid].sched, main: m.cpu[pid].main, ticks: m.cpu[pid].rawStat, wallMs: m.wallMs };
    };
    const out = await fn(env, first);
    return { pid, settled: startup.settled, startupCpuMs: startup.cpu, prewarmCpuMs, idleRate: idle[pid], ...out };
  } finally {
    await env.wrangler.stop();
  }
}

/** One login in a fresh instance: first /login/sso, first callback, a second /login/sso. */
async function firstLogin(env, first, { full }) {
  const jar = new CookieJar();
  const m1 = await first(() => request(`${env.tenantOrigin}/login/sso`, { jar }));
  const start = m1.res;
  if (start.status !== 302 || !start.location?.startsWith(`${env.op.issuer}/v1/authorize?`)) throw fail('fresh isolate: /login/sso', start);
  if (!full) return { firstSso: m1.cpu, firstSsoMain: m1.main, firstSsoTicks: m1.ticks };
  const authz = await request(start.location);
  if (authz.status !== 302) throw fail('fresh isolate: stub authorize', authz);
  const m2 = await first(() => request(authz.location, { jar }));
  const cb = m2.res;
  if (cb.status !== 200 || !parseForms(cb.body, cb.url).some((f) => f.fields.has('assertion'))) throw fail('fresh isolate: callback', cb);
  const m3 = await first(() => request(`${env.tenantOrigin}/login/sso`, { jar: new CookieJar() }));
  if (m3.res.status !== 302) throw fail('fresh isolate: second /login/sso', m3.res);
  return { firstSso: m1.cpu, firstSsoMain: m1.main, firstSsoTicks: m1.ticks, firstCallback: m2.cpu, firstCallbackMain: m2.main, secondSso: m3.cpu, secondSsoMain: m3.main };
}

/**
 * The fresh-isolate figures of one run, from two fresh starts: a cold process (everything's
 * first request: harness and worker), and a process whose harness was warmed first through
 * the local explorer (so the figure is the worker's isolate's first request on a warm harness).
 */
async function freshIsolate(ctx, persistTo, r, floor) {
  const cold = await freshInstance(ctx, persistTo, { prewarm: false }, (env, first) => firstLogin(env, first, { full: false }));
  const empty = await freshInstance(ctx, persistTo, { prewarm: true }, async (env, first) => {
    const m = await first(() => request(`${env.apex}/healthz`));
    if (m.res.status !== 200) throw fail('fresh isolate: /healthz', m.res);
    return { firstEmpty: m.cpu, firstEmptyMain: m.main };
  });
  const warm = await freshInstance(ctx, persistTo, { prewarm: true }, (env, first) => firstLogin(env, first, { full: true }));
  // The floor: a JavaScript worker making /login/sso's runtime calls, first request, same KV state.
  const floorFirst = await freshInstance(ctx, persistTo, { prewarm: true, staged: ctx.floorStaged }, async (env, first) => {
    const q = new URLSearchParams({ tenant_key: `tenant:${env.tenant}`, idp_key: `idp:${env.op.issuer}` });
    const m = await first(() => request(`${env.tenantOrigin}/login/sso?${q}`));
    const loc = m.res.location ? new URL(m.res.location) : null;
    // Both reads must hit, as the worker's do: otherwise the floor would be doing less.
    if (m.res.status !== 302 || !(Number(loc?.searchParams.get('tenant_bytes')) > 0) || !(Number(loc?.searchParams.get('idp_bytes')) > 0)) throw fail('fresh isolate: JavaScript floor worker', m.res);
    return { floorFirstSso: m.cpu, floorFirstSsoMain: m.main };
  });
  // /login/sso in a fresh isolate does 1 request, 2 KV reads (tenant, IdP metadata) and 1 KV write.
  const ssoFloor = floor.request + 3 * floor.kv;
  const out = {
    coldProcessFirstSso: cold.firstSso,
    firstSso: warm.firstSso,
    firstSsoMain: warm.firstSsoMain,
    firstSsoAboveFloor: warm.firstSso - ssoFloor,
    firstEmpty: empty.firstEmpty,
    firstEmptyMain: empty.firstEmptyMain,
    firstSsoAboveFirstEmpty: warm.firstSso - empty.firstEmpty - 3 * floor.kv,
    floorFirstSso: floorFirst.floorFirstSso,
    floorFirstSsoMain: floorFirst.floorFirstSsoMain,
    firstSsoAboveFloorWorker: warm.firstSso - floorFirst.floorFirstSso,
    firstCallbackMain: warm.firstCallbackMain,
    firstCallback: warm.firstCallback,
    secondSso: warm.secondSso,
    startupCpuMs: warm.startupCpuMs,
    prewarmCpuMs: warm.prewarmCpuMs,
    settled: cold.settled && empty.settled && warm.settled && floorFirst.settled,
    idleRate: warm.idleRate,
  };
  log(
    `run ${r}: fresh isolate: cold process first /login/sso ${fmt(out.coldProcessFirstSso)} ms; warm harness: first /login/sso ${fmt(out.firstSso)} ms ` +
      `(${fmt(out.firstSsoAboveFloor)} above the warm floor; main thread ${fmt(out.firstSsoMain)}), first /healthz ${fmt(out.firstEmpty)} ms, first callback ${fmt(out.firstCallback)} ms, next /login/sso ${fmt(out.secondSso)} ms CPU`,
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? 'unknown';
  const pkg = (p) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      return 'unknown';
    }
  };
  const commit = sh('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']);
  return {
    nproc: Number(sh('nproc', [])) || os.cpus().length,
    model,
    memGiB: os.totalmem() / 2 ** 30,
    kernel: os.release(),
    node: process.version,
    wrangler: pkg('wrangler'),
    workerd: pkg('workerd'),
    clkTck: clockTicksPerSecond(),
    commit: commit ?? 'no commit',
    date: new Date().toISOString(),
    loadavgStart: os.loadavg(),
  };
}

function wasmSize(wasmPath) {
  const buf = fs.readFileSync(wasmPath);
  return { raw: buf.length, gzip: zlib.gzipSync(buf, { level: 9 }).length, sha256: crypto.createHash('sha256').update(buf).digest('hex').slice(0, 16) };
}

function report(ctx, runs) {
  const o = ctx.opts;
  const m = ctx.machine;
  const S = (f) => spread(runs.map(f));
  const kib = (b) => `${fmt(b / 1024, 1)} KiB`;
  const rows = [
    ['Logins per second', fmtSpread(S((x) => x.login.loginsPerSec), 1)],
    ['`/login/sso` latency p50 / p99 (ms)', `${fmtSpread(S((x) => x.login.p50.sso), 1)} / ${fmtSpread(S((x) => x.login.p99.sso), 1)}`],
    ['Callback latency p50 / p99 (ms)', `${fmtSpread(S((x) => x.login.p50.callback), 1)} / ${fmtSpread(S((x) => x.login.p99.callback), 1)}`],
    ['Whole login p50 / p99 (ms, incl. the stub)', `${fmtSpread(S((x) => x.login.p50.total), 1)} / ${fmtSpread(S((x) => x.login.p99.total), 1)}`],
    ['**workerd CPU per login (ms)**', fmtSpread(S((x) => x.login.cpuPerLogin), 3)],
    ['… of which on workerd\'s main (JavaScript) thread', fmtSpread(S((x) => x.login.cpuPerLoginMain), 3)],
    ['Split by route: CPU per `/login/sso` / above its floor (1 request + 1 KV op) (ms)', `${fmtSpread(S((x) => x.split.ssoCpu), 3)} / ${fmtSpread(S((x) => x.split.ssoAboveFloor), 3)}`],
    [`Split by route: CPU per callback / above its floor (1 request + ${KV_OPS_PER_LOGIN - 1} KV ops + 1 subrequest) (ms)`, `${fmtSpread(S((x) => x.split.callbackCpu), 3)} / ${fmtSpread(S((x) => x.split.callbackAboveFloor), 3)}`],
    ['Floor: empty request, `GET /healthz` (ms CPU)', fmtSpread(S((x) => x.floor.request), 3)],
    ['Floor: one KV operation (ms CPU)', fmtSpread(S((x) => x.floor.kv), 3)],
    ['Floor: one subrequest (ms CPU)', fmtSpread(S((x) => x.floor.subrequest), 3)],
    ['(cross-check: subrequest from the 2-subrequest `check`)', fmtSpread(S((x) => x.floor.subrequestAlt), 3)],
    ['Per login: requests / KV ops / subrequests', `${REQUESTS_PER_LOGIN} / ${KV_OPS_PER_LOGIN} / ${fmtSpread(S((x) => x.login.subrequestsPerLogin), 2)}`],
    ['Floor per login (ms CPU)', fmtSpread(S((x) => x.floor.perLogin), 3)],
    ['Worker CPU per login above the floor measured through its own requests (ms)', fmtSpread(S((x) => x.aboveFloor), 3)],
    ['KV op kinds: a put / a get-hit / a delete costs the emulation more than a get-miss by (ms)', `${fmtSpread(S((x) => x.floor.putExtra), 3)} / ${fmtSpread(S((x) => x.floor.hitExtra), 3)} / ${fmtSpread(S((x) => x.floor.deleteExtra), 3)}`],
    ['Above that floor, KV ops counted by kind (2 puts, 1 get-hit, 1 delete) (ms)', fmtSpread(S((x) => x.aboveFloorByKind), 3)],
    ['Split by route, above that floor by kind: `/login/sso` / callback (ms)', `${fmtSpread(S((x) => x.split.ssoAboveFloorByKind), 3)} / ${fmtSpread(S((x) => x.split.callbackAboveFloorByKind), 3)}`],
  ];
  if (runs.every((x) => x.jsFloor)) {
    rows.push(
      ['JavaScript floor (`bench/floor-worker`): empty request / + KV put / + KV get-hit / + KV delete / + subrequest (ms CPU)', ['request', 'putExtra', 'hitExtra', 'deleteExtra', 'subrequest'].map((k) => fmtSpread(S((x) => x.jsFloor[k]), 3)).join(' / ')],
      ['JavaScript floor per login, summed by kind (2 requests, 2 puts, 1 get-hit, 1 delete, the login\'s subrequests) (ms CPU)', fmtSpread(S((x) => x.jsFloor.perLogin), 3)],
      ['Worker CPU per login above that sum (ms)', fmtSpread(S((x) => x.jsFloor.aboveFloor), 3)],
      ['JavaScript floor per login, whole: the same runtime calls in the same two requests and order (`/start`, `/callback`), same count and concurrency (ms CPU)', fmtSpread(S((x) => x.jsFloor.loginWhole), 3)],
      ['Worker CPU per login above the JavaScript floor (whole logins, the two measured minutes apart) (ms)', fmtSpread(S((x) => x.jsFloor.aboveLoginWhole), 3)],
      ['Split by route, above the JavaScript floor: `/login/sso` / callback (ms)', `${fmtSpread(S((x) => x.jsFloor.ssoAbove), 3)} / ${fmtSpread(S((x) => x.jsFloor.callbackAbove), 3)}`],
      ['Cross-check: the callback\'s runtime calls made by one JavaScript request (KV get + delete, the form POST, a 1.6 KB KV write, a 2 KB page with a cookie) / the worker\'s callback above it (ms CPU)', `${fmtSpread(S((x) => x.jsFloor.callbackWhole), 3)} / ${fmtSpread(S((x) => x.jsFloor.callbackAboveWhole), 3)}`],
    );
  }
  if (runs.every((x) => x.paired)) {
    const all = runs.flatMap((x) => x.paired.rounds.map((y) => y.above));
    rows.push(
      [`Paired: worker / JavaScript floor CPU per whole login, the two workers running side by side and taking turns (${o.pairedRounds} rounds × ${o.pairedLogins} logins per run; ms CPU)`, `${fmtSpread(S((x) => x.paired.worker), 3)} / ${fmtSpread(S((x) => x.paired.floor), 3)}`],
      [`**Worker CPU per login above the JavaScript floor, paired (median of the per-round differences; spread over runs) (ms)** — target ≤ 0.7`, fmtSpread(S((x) => x.paired.above), 3)],
      ['Paired ratio, worker ÷ JavaScript floor per login (median of the per-round ratios; spread over runs): slow hours on these machines scale both alike, so this compares across hours where the difference above does not', fmtSpread(S((x) => x.paired.ratio), 3)],
      [`… all ${all.length} rounds of all runs: median (min–max)`, `${fmt(median(all), 3)} (${fmt(Math.min(...all), 3)}–${fmt(Math.max(...all), 3)})`],
    );
  }
  if (runs.every((x) => x.fresh)) {
    rows.push(
      ['**First `/login/sso` in a fresh isolate, harness pre-warmed (ms CPU)** — target < 10', fmtSpread(S((x) => x.fresh.firstSso), 2)],
      ['… of which on workerd\'s main (JavaScript) thread', fmtSpread(S((x) => x.fresh.firstSsoMain), 2)],
      ['… minus its warm floor (1 request + 3 KV ops)', fmtSpread(S((x) => x.fresh.firstSsoAboveFloor), 2)],
      ['First `GET /healthz` in a fresh isolate, harness pre-warmed (any first request; ms CPU)', fmtSpread(S((x) => x.fresh.firstEmpty), 2)],
      ['First `/login/sso` minus that first `/healthz` and 3 KV floors (what the login path adds)', fmtSpread(S((x) => x.fresh.firstSsoAboveFirstEmpty), 2)],
      ['First request of a JavaScript worker making the same runtime calls (2 KV reads, 1 KV write, a log line, a 302 with a cookie; `bench/floor-worker`), harness pre-warmed (ms CPU)', fmtSpread(S((x) => x.fresh.floorFirstSso), 2)],
      ['**First `/login/sso` minus that JavaScript floor (what the Rust worker adds to its first request; ms CPU)**', fmtSpread(S((x) => x.fresh.firstSsoAboveFloorWorker), 2)],
      ['First `/login/sso` in a cold process (harness cold too; upper bound)', fmtSpread(S((x) => x.fresh.coldProcessFirstSso), 2)],
      ['First callback in the fresh isolate (its 2nd request; ms CPU)', fmtSpread(S((x) => x.fresh.firstCallback), 2)],
      ['Next `/login/sso` in the fresh isolate (its 3rd request; ms CPU)', fmtSpread(S((x) => x.fresh.secondSso), 2)],
      ['workerd startup / harness pre-warm before the first request (ms CPU, not counted above)', `${fmtSpread(S((x) => x.fresh.startupCpuMs), 0)} / ${fmtSpread(S((x) => x.fresh.prewarmCpuMs), 0)}`],
    );
  }
  rows.push(
    ['wasm raw / gzip -9 (`build/index_bg.wasm`) — target ≤ 350 KiB gzip', `${kib(ctx.wasm.raw)} / ${kib(ctx.wasm.gzip)} (${ctx.wasm.raw} / ${ctx.wasm.gzip} bytes)`],
    ["wrangler's proxy workerd CPU per login (ms; not counted above)", fmtSpread(S((x) => x.login.proxyCpuPerLogin), 3)],
  );
  if (ctx.bare) {
    // Spread over processes here, not over runs.
    const B = (i, f) => spread(ctx.bare[i].map(f));
    const n = ctx.bare[0].length;
    rows.push(
      [`Bare workerd (\`bench/bare.mjs\`: the workerd binary alone, no wrangler, miniflare or inspector; ${n} fresh processes each, taking turns; median (min–max) over processes): first \`/login/sso\` / the JavaScript floor's first \`/login/sso\` (ms CPU)`, `${fmtSpread(B(0, (r) => r.first))} / ${fmtSpread(B(1, (r) => r.first))}`],
      ['Bare workerd: first callback (ms CPU)', fmtSpread(B(0, (r) => r.callback))],
      ['Bare workerd: startup until quiet, worker / JavaScript floor (ms CPU, not counted above)', `${fmtSpread(B(0, (r) => r.startup), 1)} / ${fmtSpread(B(1, (r) => r.startup), 1)}`],
      [`Bare workerd: warm CPU per login, worker / JavaScript floor's whole login (${o.bareWarm} logins at concurrency 8 after 200, per process; ms)`, `${fmtSpread(B(0, (r) => r.warm), 3)} / ${fmtSpread(B(1, (r) => r.warm), 3)}`],
      ['Bare workerd: worker above the JavaScript floor, warm (difference of the two medians; ms)', fmt(B(0, (r) => r.warm).median - B(1, (r) => r.warm).median, 3)],
    );
  }

  const floorRows = Object.keys(runs[0].floors).map((k) => [runs[0].floors[k].label, fmtSpread(S((x) => x.floors[k].cpuPerRequest), 3), fmtSpread(S((x) => x.floors[k].p50), 1)]);

  const md = [];
  md.push(`## Benchmark: ${o.logins} logins at concurrency ${o.concurrency}, ${runs.length} run${runs.length > 1 ? 's' : ''}`);
  md.push('');
  md.push(`Machine: ${m.nproc} × ${m.model}, ${fmt(m.memGiB, 1)} GiB, Linux ${m.kernel}; Node ${m.node}, wrangler ${m.wrangler}, workerd ${m.workerd}; ${m.date.slice(0, 16).replace('T', ' ')} UTC; commit ${m.commit}; wasm sha256 ${ctx.wasm.sha256}…; load average (1/5/15 min) at start ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${(m.loadavgEnd ?? []).map((x) => x.toFixed(2)).join(' ')} — anything else running on the machine perturbs the figures.`);
  md.push('');
  md.push('Figures: median over runs, (min–max) in brackets.');
  md.push('');
  md.push('| Figure | Value |');
  md.push('|---|---|');
  for (const [k, v] of rows) md.push(`| ${k} | ${v} |`);
  md.push('');
  md.push('<details><summary>Harness floor requests (CPU per request of the worker\'s workerd, p50 latency)</summary>');
  md.push('');
  md.push('| Request | ms CPU | p50 ms |');
  md.push('|---|---|---|');
  for (const [a, b, c] of floorRows) md.push(`| ${a} | ${b} | ${c} |`);
  md.push('');
  md.push('</details>');
  md.push('');
  md.push('How it is measured:');
  md.push('');
  md.push(`- \`node bench/run.mjs --logins ${o.logins} --concurrency ${o.concurrency} --runs ${o.runs}\`. Each run starts a fresh \`wrangler dev\` (its own KV state) and a local OpenID Provider stub (node:http + node:crypto, RS256 ID tokens signed per code with the nonce given at authorize, discovery and JWKS with \`max-age=3600\`, email and name in the ID token so no userinfo call); one tenant, provisioning off. Warm-up: ${o.warmup} logins and a few of each floor request; then ${o.logins} timed logins (\`/login/sso\` → stub authorize → \`/authorization-code/callback\` → 200 handoff page with the \`assertion\` form, assertion claims checked), then the same number of logins split by route (all ${o.logins} \`/login/sso\` + stub authorize measured as one phase, then all ${o.logins} callbacks as another), then ${o.floorRequests} of each floor request, all at concurrency ${o.concurrency}.`);
  md.push("- CPU: `utime+stime` of the workerd process that runs the worker, from `/proc/<pid>/stat` (CLK_TCK " + m.clkTck + ") before and " + SETTLE_MS + " ms after each phase, minus that process's idle rate (measured over " + IDLE_MS / 1000 + " s per run) times the phase's length. wrangler 4 runs two workerd processes: the one bound to the `--port` runs wrangler's proxy worker (its CPU is shown but not counted); the other runs the worker, miniflare's entry worker and the local KV emulation — that is the one measured (found among wrangler's descendants by its command line, confirmed by its open `--persist-to` KV files, and checked to be the same pid after the run).");
  md.push('- Floor (marginal CPU, same method and concurrency): request = `GET /healthz`; KV operation = `GET /login/logout?state=<random>` (one KV get) minus `GET /login/logout` (same page, no KV); subrequest = `POST /admin/tenants/floor/check` (a tenant whose discovery answers 404: one subrequest) minus `POST /admin/tenants/<unknown>/check` (same auth and KV get, no subrequest). Subrequests per login are counted at the stub (the token request; discovery and JWKS stay in isolate memory). KV operations per login = 4 from the code: one put at `/login/sso`; get + delete of the pending login and the session put at the callback (tenant config, discovery and JWKS come from isolate memory).');
  md.push(`- **Above the floor = CPU per login − ${REQUESTS_PER_LOGIN} × request floor − ${KV_OPS_PER_LOGIN} × KV floor − (subrequests per login) × subrequest floor.** The KV floor is a get that misses; the login's KV operations are 2 puts, 1 get that hits and 1 delete, which cost the JavaScript KV emulation more (SQLite and blob-file writes). The "by kind" rows also subtract those extras, measured as differences between requests to miniflare's local explorer (\`/cdn-cgi/explorer/api/storage/kv/...\`: put, get-hit and delete, each minus a get-miss through the same explorer), which reach the same KV emulation without running our worker. Per route: \`/login/sso\` = 1 request + 1 put; callback = 1 request + get-hit + delete + put + 1 subrequest (the token request).`);
  md.push(`- JavaScript floor: after the worker's \`wrangler dev\` has stopped, \`bench/floor-worker\` (plain JavaScript, the same KV binding, its own \`wrangler dev\` and KV directory, the same stub) is measured the same way: ${o.floorRequests} of each of an empty request (\`/healthz\`), a 600-byte KV put with a TTL, a KV get that hits, a KV delete, and a form POST to the stub answered with ~1.5 KB of JSON (the token exchange's shape), each request also writing one JSON log line as the worker's do; then ${o.logins} whole JavaScript logins at concurrency ${o.concurrency}: \`/start\` (the pending-login put, a 302 with a cookie) then \`/callback\` (KV get + delete of that key, the form POST, a 1.6 KB session put, a 2 KB HTML page with the worker's security headers and a cookie). It does no parsing beyond JSON, no signature check, no sealing or signing: it is what the runtime and its local emulation charge for the login's calls, so **the worker's CPU per login minus the JavaScript whole-login CPU** is what the Rust worker itself costs (its code, the wasm-bindgen/workers-rs glue, WebCrypto verify). The summed-by-kind figure adds the marginal costs instead.`);
  if (ctx.bare) md.push(`- Bare workerd: after the runs, \`bench/bare.mjs\` starts the same staged build and \`bench/floor-worker\` on the workerd binary wrangler ships, from a config it writes: the module, BASE_DOMAIN, LOCAL_DEV, the secrets, and a KV binding served by a 20-line in-memory KV worker in the same process (seeded with the tenant and the IdP metadata by a first instance's admin PUT and login), loopback allowed for the token request; no wrangler proxy, miniflare, SQLite store or inspector. ${ctx.bare[0].length} fresh processes of each, taking turns: CPU until quiet, then the first \`/login/sso\` and its callback (the floor: its \`/login/sso\`, the same KV calls), ${SETTLE_MS} ms settle, scheduler clock, all threads; then ${o.bareWarm} whole logins at concurrency 8 after 200 (the floor: \`/start\` + \`/callback\`), CPU per login. Closer to production than the rows above, which include the dev harness's own first use and per-request work; the targets are read from the rows above.`);
  md.push(`- Paired (right after the worker's warm-up, so both KV stores hold about as much): the JavaScript floor worker is started beside the worker (its own \`wrangler dev\`), both are warmed, and they take turns: ${o.pairedRounds} rounds of ${o.pairedLogins} whole logins on each (worker: \`/login/sso\` → stub → callback; floor: \`/start\` → \`/callback\`), the order alternating, each batch's CPU read from its own workerd with its idle rate removed. **The headline is the median of the per-round differences**: both workers feel the same drift of the shared machine within a round, which the phases above, measured minutes apart, do not (their difference moved by ±0.3 ms between runs of the same build).`);
  md.push(`- First request in a fresh isolate: after each run, \`wrangler dev\` is started again on the same KV state (tenant and cached IdP metadata in KV, nothing in memory). workerd compiles and instantiates the module and its wasm at startup (shown separately, not counted). The harness is then warmed without touching the worker's isolate: 5 rounds of KV get (miss and hit), put and delete through miniflare's local explorer (\`/cdn-cgi/explorer/api/storage/kv/...\`, served by miniflare's own workers), so wrangler's proxy, the entry worker and the JavaScript KV emulation are past their first use. When the process has been quiet (< 2 ms CPU in 1 s) its idle rate is measured over 2 s; then one \`/login/sso\` — the isolate's first request — is measured with the process's scheduler clock (sum of \`/proc/<pid>/task/*/schedstat\`, ns; \`/proc/<pid>/stat\` has 10 ms ticks), ${SETTLE_MS} ms settle, idle subtracted; "minus its warm floor" subtracts the run's warm request floor and 3 KV floors (it reads tenant and IdP metadata from KV and writes the pending login). Then the isolate's first callback (first ID-token verification, first handoff signature) and a second \`/login/sso\`, the same way. A third fresh start, pre-warmed the same way, measures the isolate's first \`GET /healthz\` instead: the cost of any first request into a fresh isolate (workerd's and the wasm module's first run of the request path), so "minus that first /healthz" is what the login path itself adds. A fourth fresh start, pre-warmed the same way, runs \`bench/floor-worker\` instead of the worker: a JavaScript worker whose first request makes the runtime calls \`/login/sso\` makes (the same two edge-cached KV reads, both hits, one KV write with a TTL, one JSON log line, a 302 with a cookie) and nothing else, so "minus that JavaScript floor" is what the Rust worker itself adds to its first request (the wasm module's first run of its code and the JavaScript glue between them). Another fresh start without the pre-warm gives the cold-process figure: every layer's first request, an upper bound. "Main thread" is the same reading for workerd's main thread only (tid = pid), which runs the JavaScript isolates; the rest is V8's background compiler / GC and I/O threads; the main-thread figure is the closer one to a per-request CPU time (it still includes the harness's JavaScript). Single requests: noisy; read the spread.`);
  md.push('- Both processes share this machine\'s cores with the load generator, the stub and wrangler, so logins/s and latencies are for this setup; CPU time per process depends much less on that sharing, but other load on the machine (see the load average) still moves it by some percent through caches and clock speed.');
  return md.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const ctx = { opts, allWorkerdPids: [] };
  ctx.machine = machine();
  log(`benchmark: K=${opts.logins} C=${opts.concurrency} R=${opts.runs} floor N=${opts.floorRequests} warm-up ${opts.warmup}`);

  ctx.staged = stage();
  ctx.floorStaged = stageFloor(ctx.staged);
  cleanups.push(() => unstage(ctx.staged));
  ctx.wasm = wasmSize(ctx.staged.wasmPath);

  const client = { client_id: `bench-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  cleanups.push(() => op.close());
  ctx.base = { op, client, tenant: 'acme', adminToken: ctx.staged.secrets.ADMIN_TOKEN, portalUrl: `http://127.0.0.1:${op.port}` };

  const runs = [];
  for (let r = 1; r <= opts.runs && !stopping; r += 1) runs.push(await oneRun(ctx, r));
  if (op.counts.errors) throw new Error(`the OP stub refused requests: ${op.errors.join('; ')}`);
  if (opts.bareStarts > 0 && !stopping) {
    // The same staged build on the bare workerd binary (bench/bare.mjs), with the JavaScript floor.
    cleanups.push(stopBare);
    log(`bare workerd: ${opts.bareStarts} fresh processes each of the worker and the JavaScript floor`);
    ctx.bare = await bareRuns({ builds: [path.dirname(ctx.staged.wasmPath), 'floor'], starts: opts.bareStarts, warmLogins: opts.bareWarm, log });
  }

  ctx.machine.loadavgEnd = os.loadavg();
  const md = report(ctx, runs);
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, `${md}\n`);
  fs.writeFileSync(opts.out.replace(/\.md$/, '') + '.json', `${JSON.stringify({ opts, machine: ctx.machine, wasm: ctx.wasm, runs, bare: ctx.bare ?? null }, null, 2)}\n`);
  console.log(md);
  log(`\nwritten: ${path.relative(process.cwd(), opts.out)} (+ .json)`);

  await cleanupAll();
  const left = ctx.allWorkerdPids.filter(alive);
  if (left.length) throw new Error(`workerd processes left running: ${left.join(', ')}`);
  log(`stopped: ${ctx.allWorkerdPids.length} workerd processes started and stopped, none left`);
}

main().catch(async (e) => {
  if (stopping) {
    await cleanupAll();
    process.exit(130);
  }
  console.error(`\nbenchmark failed: ${e.stack ?? e.message}`);
  await cleanupAll();
  process.exit(1);
});
