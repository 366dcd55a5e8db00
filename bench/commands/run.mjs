// `node bench/bench.mjs run`: the issue's benchmark. The Rust worker and the JavaScript peer
// (the same login written with oauth4webapi) each under its own `wrangler dev`, against one
// OpenID Provider stub, taking turns: each round runs K whole logins at concurrency C on one,
// then on the other, the order alternating, each batch's CPU read from its own workerd. The
// headline is worker ÷ peer CPU per login, the median of the per-round ratios: both feel the
// same drift of a shared machine within a round. Then the first request of a fresh isolate of
// each (fresh `wrangler dev`, harness pre-warmed, the two taking turns), and the wasm size.
// Writes the Markdown table to bench/results/latest.md (and stdout), the raw numbers to
// latest.json.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startOpStub } from '../lib/op-stub.mjs';
import { alive, cpu, fmt, fmtSpread, idleRate, machine, measured, median, noFailures, percentile, pool, quiet, SETTLE_MS, spread, wasmSize } from '../lib/measure.mjs';
import { login, REPO_ROOT, retries, stagePeer, stageWorker, startTarget, unstage, warmHarness } from '../lib/workers.mjs';

/** Subrequests the stub saw between two `op.snapshot()`s. */
export function subrequests(before, after) {
  return ['discovery', 'jwks', 'token', 'userinfo', 'notFound'].reduce((n, k) => n + after[k] - before[k], 0);
}

/** A fresh OpenID Provider stub with one client; stopped by the cleanups. */
export async function stubFor(prefix, onCleanup) {
  const client = { client_id: `${prefix}-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  onCleanup(() => op.close());
  return { op, client };
}

/**
 * Started targets ({ name, pid, login, w }) taking turns: each round runs `logins` whole
 * logins on each, the order reversing every round, each batch's CPU read from its own workerd
 * (idle rate removed). Any failed login fails the run after its batch. Returns one row per
 * round: { order, [name]: { cpu, main, stat, proxy, loginsPerSec, p50, p99, ssoP50, … } }.
 */
export async function takeTurns(targets, op, { rounds, logins, concurrency, warmup, stopped, log }) {
  for (const t of targets) {
    noFailures(`${t.name}: warm-up logins`, await pool(warmup, concurrency, t.login, stopped));
  }
  for (const t of targets) t.idle = await idleRate(t.pid, 2_000);
  const rows = [];
  for (let r = 0; r < rounds; r += 1) {
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    const row = { order: order.map((t) => t.name) };
    for (const t of order) {
      const lat = [];
      const op0 = op.snapshot();
      const proxy0 = t.w.proxyPid ? cpu(t.w.proxyPid).all : NaN;
      const m = await measured(t.pid, t.idle, () => pool(logins, concurrency, async () => lat.push(await t.login()), stopped));
      noFailures(`round ${r + 1}, ${t.name}: logins`, m.result);
      const col = (k) => lat.map((l) => l[k]);
      row[t.name] = {
        cpu: m.cpu.all / logins,
        main: m.cpu.main / logins,
        stat: m.cpu.stat / logins,
        proxy: t.w.proxyPid ? (cpu(t.w.proxyPid).all - proxy0) / logins : NaN,
        loginsPerSec: logins / (m.wallMs / 1000),
        p50: percentile(col('total'), 50),
        p99: percentile(col('total'), 99),
        ssoP50: percentile(col('sso'), 50),
        ssoP99: percentile(col('sso'), 99),
        callbackP50: percentile(col('callback'), 50),
        callbackP99: percentile(col('callback'), 99),
        subrequests: subrequests(op0, op.snapshot()) / logins,
      };
    }
    rows.push(row);
    log(`round ${r + 1}/${rounds}: ${order.map((t) => `${t.name} ${fmt(row[t.name].cpu, 3)} ms CPU/login, ${fmt(row[t.name].loginsPerSec, 1)} logins/s`).join(' · ')}`);
  }
  return rows;
}

/**
 * One fresh start of a target whose KV state (`persistTo`) already holds what it needs: CPU
 * until quiet (workerd's start), the harness warmed through the local explorer, quiet again,
 * idle rate, then one whole login with its /login/sso and callback each measured (scheduler
 * clock, all threads and the main thread, SETTLE_MS settle, idle removed).
 */
async function freshStart(name, staged, persistTo, { op, client, stopped }) {
  const t = await startTarget(name, staged, { op, client, persistTo, setup: false });
  try {
    const startup = await quiet(t.pid, stopped);
    await warmHarness(t);
    const warmed = await quiet(t.pid, stopped);
    const idle = await idleRate(t.pid, 2_000);
    const subs = [];
    const measure = async (send) => {
      const op0 = op.snapshot();
      const m = await measured(t.pid, idle, send);
      subs.push(subrequests(op0, op.snapshot()));
      return { res: m.result, cpu: m.cpu.all, main: m.cpu.main };
    };
    const l = await login(t, op, measure);
    return {
      startup: startup.cpu,
      settled: startup.settled && warmed.settled,
      firstSso: l.ssoMeasure.cpu,
      firstSsoMain: l.ssoMeasure.main,
      firstCallback: l.callbackMeasure.cpu,
      firstCallbackMain: l.callbackMeasure.main,
      firstSsoSubrequests: subs[0],
      firstCallbackSubrequests: subs[1],
    };
  } finally {
    await t.w.stop();
  }
}

async function freshIsolates(targets, o, ctx) {
  const { op, client, log } = ctx;
  // Each worker's KV state gets what a fresh isolate finds in production: for the Rust worker
  // its tenant and the IdP metadata it caches in KV, from one login; the peer keeps nothing.
  for (const s of targets) {
    s.freshState = path.join(s.staged.dir, 'fresh-state');
    const t = await startTarget(s.name, s.staged, { op, client, persistTo: s.freshState });
    try {
      await t.login();
    } finally {
      await t.w.stop();
    }
  }
  const rows = Object.fromEntries(targets.map((s) => [s.name, []]));
  for (let i = 0; i < o.starts && !ctx.stopped(); i += 1) {
    for (const s of i % 2 === 0 ? targets : [...targets].reverse()) {
      const m = await freshStart(s.name, s.staged, s.freshState, ctx);
      rows[s.name].push(m);
      log(`fresh start ${i + 1}/${o.starts}, ${s.name}: startup ${fmt(m.startup, 1)}, first /login/sso ${fmt(m.firstSso)} (${m.firstSsoSubrequests} subrequests), first callback ${fmt(m.firstCallback)} ms CPU`);
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Report

/** A path as the reader would type it: relative inside the repo, absolute elsewhere. */
const shown = (p) => (p.startsWith(`${REPO_ROOT}${path.sep}`) ? path.relative(REPO_ROOT, p) : p);

function report(o, r) {
  const names = ['worker', 'peer'];
  const S = (name, f, rows = r.rounds) => spread(rows.map((row) => f(row[name])));
  const both = (f, digits) => names.map((n) => fmtSpread(S(n, f), digits));
  const ratios = spread(r.rounds.map((row) => row.worker.cpu / row.peer.cpu));
  const m = r.machine;
  const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
  const rows = [
    ['**workerd CPU per login (ms)**', ...both((x) => x.cpu, 3)],
    ['… of which on workerd\'s main (JavaScript) thread', ...both((x) => x.main, 3)],
    ['Logins per second', ...both((x) => x.loginsPerSec, 1)],
    ['Whole login p50 / p99 (ms, incl. the stub\'s authorize)', ...names.map((n) => `${fmtSpread(S(n, (x) => x.p50), 1)} / ${fmtSpread(S(n, (x) => x.p99), 1)}`)],
    ['`/login/sso` p50 / p99 (ms)', ...names.map((n) => `${fmtSpread(S(n, (x) => x.ssoP50), 1)} / ${fmtSpread(S(n, (x) => x.ssoP99), 1)}`)],
    ['Callback p50 / p99 (ms)', ...names.map((n) => `${fmtSpread(S(n, (x) => x.callbackP50), 1)} / ${fmtSpread(S(n, (x) => x.callbackP99), 1)}`)],
    ['Subrequests per login (counted at the stub)', ...both((x) => x.subrequests, 2)],
    ["wrangler's proxy workerd CPU per login (ms; not counted above)", ...both((x) => x.proxy, 3)],
  ];
  if (r.fresh) {
    const F = (n, f, d = 2) => fmtSpread(spread(r.fresh[n].map(f)), d);
    const starts = r.fresh.worker.length;
    rows.push(
      [`**First \`/login/sso\` of a fresh isolate, harness pre-warmed (ms CPU; ${starts} fresh start${starts > 1 ? 's' : ''} each)**`, ...names.map((n) => F(n, (x) => x.firstSso))],
      ['… of which on the main thread', ...names.map((n) => F(n, (x) => x.firstSsoMain))],
      ['First callback of that isolate (its 2nd request; ms CPU)', ...names.map((n) => F(n, (x) => x.firstCallback))],
      ['Subrequests of that first `/login/sso` / first callback', ...names.map((n) => `${F(n, (x) => x.firstSsoSubrequests, 0)} / ${F(n, (x) => x.firstCallbackSubrequests, 0)}`)],
      ['workerd startup until quiet (ms CPU; not counted above)', ...names.map((n) => F(n, (x) => x.startup, 1))],
    );
  }
  rows.push(['wasm raw / gzip -9', `${kib(r.wasm.raw)} / ${kib(r.wasm.gzip)} (${r.wasm.raw} / ${r.wasm.gzip} bytes)`, '—']);

  const md = [];
  md.push(`## Benchmark: the worker against the JavaScript peer, ${o.rounds} rounds × ${o.logins} logins at concurrency ${o.concurrency}`);
  md.push('');
  md.push(`**Worker ÷ peer, workerd CPU per login: ${fmt(ratios.median, 3)}** (median of the ${ratios.n} per-round ratios; ${fmt(ratios.min, 3)}–${fmt(ratios.max, 3)}). Logins per second, worker ÷ peer: ${fmt(median(r.rounds.map((row) => row.worker.loginsPerSec / row.peer.loginsPerSec)), 3)}.`);
  md.push('');
  md.push(`Machine: ${m.nproc} × ${m.model}, ${fmt(m.memGiB, 1)} GiB, Linux ${m.kernel}; Node ${m.node}, wrangler ${m.wrangler}, workerd ${m.workerd}; ${m.date.slice(0, 16).replace('T', ' ')} UTC; commit ${m.commit}; wasm sha256 ${r.wasm.sha256}…; peer oauth4webapi ${r.peerDeps}; load average (1/5/15 min) at start ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${m.loadavgEnd.map((x) => x.toFixed(2)).join(' ')} — anything else running on the machine moves the figures.`);
  md.push('');
  md.push('Median over rounds (or fresh starts), (min–max) in brackets.');
  md.push('');
  md.push('| Figure | Rust worker | JavaScript peer |');
  md.push('|---|---|---|');
  for (const [k, a, b] of rows) md.push(`| ${k} | ${a} | ${b} |`);
  md.push('');
  md.push('<details><summary>Every round</summary>');
  md.push('');
  md.push('| Round | Order | Worker ms CPU/login | Peer ms CPU/login | Ratio | Worker logins/s | Peer logins/s |');
  md.push('|---|---|---|---|---|---|---|');
  r.rounds.forEach((row, i) => md.push(`| ${i + 1} | ${row.order.join(', ')} | ${fmt(row.worker.cpu, 3)} | ${fmt(row.peer.cpu, 3)} | ${fmt(row.worker.cpu / row.peer.cpu, 3)} | ${fmt(row.worker.loginsPerSec, 1)} | ${fmt(row.peer.loginsPerSec, 1)} |`));
  md.push('');
  md.push('</details>');
  md.push('');
  md.push('How it is measured:');
  md.push('');
  md.push(`- \`node bench/bench.mjs run --rounds ${o.rounds} --logins ${o.logins} --concurrency ${o.concurrency}\`. One OpenID Provider stub (node:http + node:crypto; RS256 ID token per code with its nonce, PKCE and client authentication checked; discovery and JWKS with \`max-age=3600\`; email and name in the ID token, so no userinfo call). The Rust worker (\`${shown(r.build)}\`, staged with the repo's wrangler.toml; \`LOCAL_DEV=true\`, \`LOGIN_RATE_LIMIT_OFF=true\` since the peer has no login-start limit; tenant \`acme\` created through the admin API, provisioning off) and the JavaScript peer (\`${shown(r.peer)}\`; \`--var ISSUER/CLIENT_ID/CLIENT_SECRET/PORTAL_URL\` pointing at the same stub) each run under their own \`wrangler dev\` with their own KV directory, both up for the whole phase.`);
  md.push(`- A login: \`GET /login/sso\` (302 to the stub's authorize, a cookie for the callback) → the stub's authorize (302 back with code and state) → \`GET /authorization-code/callback\` → 200 page whose form POSTs an \`assertion\` to the portal; every login is checked (the assertion's EdDSA signature against the worker's handoff key, its tenant, member, audience and expiry), and any failure fails the run. Warm-up: ${o.warmup} logins on each; then ${o.rounds} rounds, each ${o.logins} logins at concurrency ${o.concurrency} on one worker and then on the other, the order alternating.`);
  md.push(`- CPU: the workerd process that runs the worker (wrangler 4 starts two: the one bound to \`--port\` runs wrangler's proxy, shown but not counted; the other runs the worker, miniflare's entry worker and the local KV emulation), summed over its threads from \`/proc/<pid>/task/*/schedstat\` before and ${SETTLE_MS} ms after each batch, minus that process's idle rate (measured over 2 s after the warm-up) over the window. The headline ratio is taken per round, so drift of the shared machine between rounds cancels.`);
  if (r.fresh) md.push(`- First requests: each worker's KV directory first gets what a fresh isolate finds there (the tenant, and the IdP metadata the Rust worker caches in KV, from one login; the peer keeps its metadata in isolate memory only, so its first \`/login/sso\` fetches discovery and its first callback the JWKS). Then ${o.starts} fresh \`wrangler dev\` start${o.starts > 1 ? 's' : ''} each, taking turns: CPU until quiet (startup), the harness warmed through miniflare's local explorer (KV put, get, miss and delete, which never reach the worker's isolate), quiet again, idle rate over 2 s, then one login whose \`/login/sso\` and callback are each measured on the scheduler clock. Single requests: read the spread.${Object.values(r.fresh).flat().some((x) => !x.settled) ? ' **Some starts never went quiet (< 2 ms CPU in 1 s within 30 s): the machine was busy; those first-request figures include other work.**' : ''}`);
  md.push(`- Requests retried after a reused keep-alive connection was reset before it reached the server (as a browser retries): ${r.retries.count}${r.retries.count ? ` (last: ${r.retries.last})` : ''}.`);
  md.push('- The load generator, the stub and wrangler share the machine\'s cores with workerd, so logins/s and latencies are for this setup; CPU per login depends much less on that, but other load still moves it by some percent.');
  return md.join('\n');
}

// ---------------------------------------------------------------------------------------------

export default async function run(o, { onCleanup, stopped, log }) {
  const r = { opts: o, machine: machine(REPO_ROOT), build: o.build, peer: o.peer };
  o.warmup ??= Math.max(4 * o.concurrency, Math.ceil(o.logins / 10));
  log(`run: ${o.rounds} rounds × ${o.logins} logins at concurrency ${o.concurrency} (warm-up ${o.warmup}), ${o.starts} fresh starts each`);
  const { op, client } = await stubFor('bench', onCleanup);
  const workerStaged = stageWorker(o.build);
  onCleanup(() => unstage(workerStaged));
  const peerStaged = stagePeer(o.peer);
  onCleanup(() => unstage(peerStaged));
  r.wasm = wasmSize(workerStaged.wasmPath);
  r.peerDeps = JSON.parse(fs.readFileSync(path.join(peerStaged.workerDir, 'node_modules', 'oauth4webapi', 'package.json'), 'utf8')).version;
  const workerdPids = [];

  const targets = [];
  for (const [name, staged] of [['worker', workerStaged], ['peer', peerStaged]]) {
    const t = await startTarget(name, staged, { op, client, persistTo: path.join(staged.dir, 'state') });
    onCleanup(() => t.w.stop());
    workerdPids.push(...t.w.workerdPids);
    targets.push(t);
    log(`${name}: wrangler dev on :${t.w.port}, workerd pid ${t.pid} (proxy ${t.w.proxyPid})`);
  }
  r.rounds = await takeTurns(targets, op, { ...o, stopped, log });
  for (const t of targets) await t.w.stop();

  if (o.starts > 0 && !stopped()) {
    r.fresh = await freshIsolates(targets.map((t) => ({ name: t.name, staged: t.staged })), o, { op, client, stopped, log });
  }
  if (op.counts.errors) throw new Error(`the OpenID Provider stub refused requests: ${op.errors.join('; ')}`);
  r.stub = op.snapshot();
  r.retries = { ...retries };
  r.machine.loadavgEnd = os.loadavg();

  const md = report(o, r);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, `${md}\n`);
  fs.writeFileSync(`${o.out.replace(/\.md$/, '')}.json`, `${JSON.stringify(r, null, 2)}\n`);
  console.log(md);
  log(`\nwritten: ${path.relative(process.cwd(), o.out)} (+ .json)`);
  const left = workerdPids.filter(alive);
  if (left.length) throw new Error(`workerd processes left running: ${left.join(', ')}`);
}
