// Load generation shared by the benchmark scripts.

import path from 'node:path';
import { CookieJar, request } from '../tests/support/http.mjs';
import { mainThreadCpuMs, schedCpuMs } from './proc.mjs';
import { stage, startWrangler, unstage } from './wrangler.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const KV_NAMESPACE_ID = '00000000000000000000000000000000'; // wrangler.toml's local KV id

/** Runs `task(i)` n times with at most c in flight; stops early (and throws) once `stopped()`. */
export async function pool(n, c, task, stopped = () => false) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(c, n) }, async () => {
    while (!stopped()) {
      const i = next;
      next += 1;
      if (i >= n) return;
      await task(i);
    }
  });
  await Promise.all(lanes);
  if (stopped()) throw new Error('interrupted');
}

/**
 * One login against the benchmark's OpenID Provider stub, checked only as far as telling it
 * worked: /login/sso → the stub's authorize → the callback's handoff form. (`run.mjs` checks
 * every step and the assertion's claims.) `measured(send)` wraps the worker's two requests
 * (bench/bare.mjs reads their CPU) and returns `{ res, … }`; what it returns for each is
 * returned as `{ sso, cb }`.
 */
export async function quickLogin(origin, label = 'worker', measured = async (send) => ({ res: await send() })) {
  const jar = new CookieJar();
  const sso = await measured(() => request(`${origin}/login/sso`, { jar }));
  if (sso.res.status !== 302) throw new Error(`${label}: /login/sso → ${sso.res.status} ${sso.res.body.slice(0, 200)}`);
  const authz = await request(sso.res.location);
  const cb = await measured(() => request(authz.location, { jar }));
  if (cb.res.status !== 200 || !cb.res.body.includes('name="assertion"')) throw new Error(`${label}: callback → ${cb.res.status} ${cb.res.body.slice(0, 200)}`);
  return { sso, cb };
}

/** The admin PUT body of the benchmark's tenant: on the stub `op`, for `client`, no provisioning. */
export function tenantBody(op, client) {
  return {
    enabled: true, ...op.tenantFields(), idp_id: null, client_id: client.client_id, client_secret: client.client_secret,
    token_endpoint_auth_method: 'client_secret_basic', provision_new_users: false, password_login_disabled: false,
    allow_unverified_email: false, portal_url: `http://127.0.0.1:${op.port}`, handoff_path: '/sso/assertion',
    provisioning_webhook_url: null, custom_domains: [], redirect_uri: null, post_logout_redirect_uri: null,
  };
}

/**
 * A built worker (`buildDir`) under its own `wrangler dev`, with tenant `acme` on the stub `op`
 * for `client`: { label, staged, w, pid, apex, tenantOrigin }. The caller stops `w` and unstages.
 */
export async function instance(label, buildDir, op, client) {
  const staged = stage(path.resolve(buildDir));
  const w = await startWrangler({ staged, persistTo: path.join(staged.dir, 'state') });
  const { port } = w;
  const env = { label, staged, w, pid: w.pids.worker, apex: `http://localhost:${port}`, tenantOrigin: `http://acme.localhost:${port}` };
  for (let i = 0; i < 150; i += 1) {
    try {
      if ((await request(`${env.apex}/healthz`)).status === 200) break;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  const put = await request(`${env.apex}/admin/tenants/acme`, { method: 'PUT', body: tenantBody(op, client), headers: { authorization: `Bearer ${staged.secrets.ADMIN_TOKEN}`, accept: 'application/json' } });
  if (put.status !== 201) throw new Error(`${label}: PUT tenant → ${put.status} ${put.body}`);
  return env;
}

/**
 * One whole login on the JavaScript floor worker (bench/floor-worker at `apex`), the worker's
 * runtime calls in the worker's order: /start (KV write, 302 + cookie) then /callback on the
 * key it wrote, with the form POST to the stub at `opOrigin`. `skip`: letters of the
 * callback's calls to leave out (floor-worker/index.js; bench/steps.mjs).
 */
export function floorLogin(apex, opOrigin, skip = '') {
  const get = (p) => request(`${apex}${p}`);
  const fetchUrl = encodeURIComponent(`${opOrigin}/floor/token`);
  const skipped = skip ? `&skip=${skip}` : '';
  return async () => {
    const start = await get('/start');
    const state = start.location ? new URL(start.location).searchParams.get('state') : null;
    if (start.status !== 302 || !state) throw new Error(`floor worker /start → ${start.status} ${start.body.slice(0, 200)}`);
    const cb = await get(`/callback?key=floor-pending:${state}&url=${fetchUrl}${skipped}`);
    if (cb.status !== 200 || !cb.body.includes('name="assertion"')) throw new Error(`floor worker /callback → ${cb.status} ${cb.body.slice(0, 200)}`);
  };
}

/**
 * Entries ({ name, pid, login }) taking turns: each round runs `logins` logins on every entry,
 * the order reversing every round, each batch read from its own workerd's scheduler clock.
 * Returns one row per round: { [name]: { all, main } }, ms CPU per login (all threads, the
 * main thread). `onRound(row, index)` sees each row as it comes.
 */
export async function takeTurns(entries, { rounds, logins, concurrency, settleMs = 250, onRound = () => {} }) {
  const rows = [];
  for (let r = 0; r < rounds; r += 1) {
    const row = {};
    for (const e of r % 2 === 0 ? entries : [...entries].reverse()) {
      const all0 = schedCpuMs(e.pid);
      const main0 = mainThreadCpuMs(e.pid);
      await pool(logins, concurrency, e.login);
      await sleep(settleMs);
      row[e.name] = { all: (schedCpuMs(e.pid) - all0) / logins, main: (mainThreadCpuMs(e.pid) - main0) / logins };
    }
    rows.push(row);
    onRound(row, r);
  }
  return rows;
}

/** Stops each entry's `wrangler dev` ({ w }) and removes its staging dir ({ staged }). */
export async function stopAll(entries) {
  for (const e of entries) {
    await e.w.stop();
    unstage(e.staged);
  }
}

/**
 * Warms the harness without touching the worker's isolate: requests to miniflare's local
 * explorer (`/cdn-cgi/explorer/api/...`, served by miniflare's entry worker and its explorer
 * worker, never by ours) read, write and delete KV keys, so wrangler's proxy, the entry worker
 * and the JavaScript KV emulation have run their paths before the worker's first request.
 */
export async function warmHarness(apex, tenant, rounds = 5) {
  const base = `${apex}/cdn-cgi/explorer/api/storage/kv/namespaces/${KV_NAMESPACE_ID}/values`;
  for (let i = 0; i < rounds; i += 1) {
    const miss = await request(`${base}/bench-warm-miss-${i}`);
    const hit = await request(`${base}/${encodeURIComponent(`tenant:${tenant}`)}`);
    const put = await request(`${base}/bench-warm-${i}`, { method: 'PUT', body: 'warm', headers: { 'content-type': 'text/plain' } });
    const del = await request(`${base}/bench-warm-${i}`, { method: 'DELETE' });
    if (miss.status !== 404 || hit.status !== 200 || put.status !== 200 || del.status >= 500) {
      throw new Error(`local explorer warm-up failed (miss ${miss.status}, hit ${hit.status}, put ${put.status}, delete ${del.status}): ${hit.body.slice(0, 200)}`);
    }
  }
}
