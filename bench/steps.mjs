// Where a login's CPU goes, step by step: several builds of the worker, and the JavaScript floor
// worker whole or with some of its runtime calls left out, take turns running whole logins.
//
//   node bench/steps.mjs --build NAME=DIR[:TAG] [--build …] [--floor NAME[=SKIP]] [--floor …]
//                        [--logins 200] [--rounds 10] [--concurrency 8]
//
// DIR is a built worker (a copy of build/). With TAG, each login starts at
// `/login/sso?return_to=/TAG`: a throwaway build can then return early at the step under study
// when the pending login's `return_to` is `/TAG`, answering 200 with TAG as the body (checked
// here), so one build serves every step. SKIP: letters of the floor's `/callback` runtime calls
// to leave out — g (the KV read), d (the delete), f (the form POST), p (the session write).
// Every entry runs under its own `wrangler dev`, against one OpenID Provider stub; each round
// runs `--logins` logins on each entry in turn (the order reversing every round), reading each
// workerd's CPU around its own batch. It prints, per entry, the medians over rounds of CPU per
// login (all threads, main thread, the rest) and of the per-round difference from the first
// entry. Steps compared this way on these machines carry ±0.1 ms of noise: read neighbours
// together (bench/FINDINGS.md, "Warm logins").

import crypto from 'node:crypto';
import path from 'node:path';
import { CookieJar, request } from '../tests/support/http.mjs';
import { floorLogin, instance, pool, stopAll, takeTurns } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { fmt, percentile } from './stats.mjs';
import { stage, stageFloor, startWrangler } from './wrangler.mjs';
import { options, stopWranglersOnSignal, runMain } from './cli.mjs';

const args = process.argv.slice(2);
const opt = options(args);
const specs = args.flatMap((a, i) => (a === '--build' || a === '--floor' ? [{ kind: a.slice(2), text: args[i + 1] ?? '' }] : []));
if (specs.length < 2 || specs.some((s) => !s.text)) {
  console.error('usage: node bench/steps.mjs --build NAME=DIR[:TAG] [--build …] [--floor NAME[=SKIP]] [--logins 200] [--rounds 10] [--concurrency 8]');
  process.exit(2);
}
const N = Number(opt('--logins', 200));
const ROUNDS = Number(opt('--rounds', 10));
const C = Number(opt('--concurrency', 8));
stopWranglersOnSignal();

/** A worker build under `wrangler dev`, its tenant on `op`; logins tagged with `tag` if given. */
async function workerEntry(name, spec, op, client) {
  const [dir, tag] = spec.split(':');
  const env = await instance(name, dir, op, client);
  const first = tag ? `${env.tenantOrigin}/login/sso?return_to=${encodeURIComponent(`/${tag}`)}` : `${env.tenantOrigin}/login/sso`;
  const login = async () => {
    const jar = new CookieJar();
    const start = await request(first, { jar });
    if (start.status !== 302) throw new Error(`${name}: /login/sso → ${start.status} ${start.body.slice(0, 200)}`);
    const cb = await request((await request(start.location)).location, { jar });
    const ok = tag ? cb.status === 200 && cb.body === tag : cb.status === 200 && cb.body.includes('name="assertion"');
    if (!ok) throw new Error(`${name}: callback → ${cb.status} ${cb.body.slice(0, 200)}`);
  };
  return { name, staged: env.staged, w: env.w, pid: env.pid, login };
}

/** The JavaScript floor worker, its `/callback` leaving out the calls named in `skip`. */
async function floorEntry(name, skip, op, buildDir) {
  const staged = stage(buildDir);
  const w = await startWrangler({ staged: stageFloor(staged), persistTo: path.join(staged.dir, 'state') });
  const login = floorLogin(`http://localhost:${w.port}`, op.origin, skip);
  return { name, staged, w, pid: w.pids.worker, login };
}

async function main() {
  const client = { client_id: `steps-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  const entries = [];
  try {
    // The floor is staged beside a worker build (for the secrets file): the first one given.
    const firstBuild = specs.find((s) => s.kind === 'build');
    const anyDir = firstBuild ? path.resolve(firstBuild.text.split('=')[1].split(':')[0]) : path.resolve('build');
    for (const s of specs) {
      const [name, rest = ''] = s.text.split('=');
      entries.push(s.kind === 'build' ? await workerEntry(name, rest, op, client) : await floorEntry(name, rest, op, anyDir));
    }
    for (const e of entries) await pool(Math.max(10 * C, 80), C, e.login); // warm-up
    const rows = await takeTurns(entries, {
      rounds: ROUNDS,
      logins: N,
      concurrency: C,
      onRound: (row, r) => console.error(`round ${r + 1}: ${entries.map((e) => `${e.name} ${fmt(row[e.name].all, 3)}`).join(' · ')}`),
    });
    const med = (f) => percentile(rows.map(f), 50);
    const base = entries[0].name;
    console.log(`${ROUNDS} rounds × ${N} logins at concurrency ${C}; workerd CPU per login (ms), medians over rounds:`);
    for (const e of entries) {
      const x = (f) => fmt(med(f), 3);
      console.log(`  ${e.name}: all ${x((w) => w[e.name].all)} · main thread ${x((w) => w[e.name].main)} · other threads ${x((w) => w[e.name].all - w[e.name].main)} · minus ${base}: ${x((w) => w[e.name].all - w[base].all)} (main thread ${x((w) => w[e.name].main - w[base].main)})`);
    }
  } finally {
    await stopAll(entries);
    await op.close();
  }
}

runMain(main);
