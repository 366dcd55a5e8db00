// A/B: which of two builds of the worker costs less CPU per login, on this machine, now.
//
//   node bench/ab.mjs --a DIR --b DIR [--logins 100] [--rounds 8] [--concurrency 8]
//
// DIR is a built worker (a copy of build/ from `bash scripts/build-worker.sh`). Both run at the
// same time under their own `wrangler dev`, against one OpenID Provider stub, and take turns:
// each round measures `--logins` complete logins on A, then on B (the order alternates), with
// the CPU of each worker's workerd process read from the scheduler clock around its own batch.
// Taking turns cancels the drift of a shared machine that makes two separate `bench/run.mjs`
// runs disagree by more than the change being measured. It reports CPU per login of each
// (median over rounds), the paired difference B − A per round and its median, and whether
// every round agrees on the sign. Relative figures only: the floor arithmetic is run.mjs's.

import crypto from 'node:crypto';
import { instance, pool, quickLogin, stopAll, takeTurns } from './load.mjs';
import { startOpStub } from './op-stub.mjs';
import { fmt, percentile } from './stats.mjs';
import { options, stopWranglersOnSignal, runMain } from './cli.mjs';

const args = process.argv.slice(2);
const opt = options(args);
if (!opt('--a') || !opt('--b')) {
  console.error('usage: node bench/ab.mjs --a BUILD_DIR --b BUILD_DIR [--logins 100] [--rounds 8] [--concurrency 8]');
  process.exit(2);
}
const N = Number(opt('--logins', 100));
const ROUNDS = Number(opt('--rounds', 8));
const C = Number(opt('--concurrency', 8));
stopWranglersOnSignal();

async function main() {
  const client = { client_id: `ab-${crypto.randomBytes(4).toString('hex')}`, client_secret: crypto.randomBytes(24).toString('base64url') };
  const op = await startOpStub({ clients: [client] });
  const envs = [];
  try {
    for (const [name, dir] of [['A', opt('--a')], ['B', opt('--b')]]) {
      const env = await instance(name, dir, op, client);
      envs.push({ ...env, name, login: () => quickLogin(env.tenantOrigin, name) });
    }
    for (const env of envs) await pool(Math.max(4 * C, 40), C, env.login); // warm-up
    const rows = await takeTurns(envs, {
      rounds: ROUNDS,
      logins: N,
      concurrency: C,
      onRound: (row, r) => console.error(`round ${r + 1}: A ${fmt(row.A.all, 3)} (main ${fmt(row.A.main, 3)}) · B ${fmt(row.B.all, 3)} (main ${fmt(row.B.main, 3)}) ms CPU/login`),
    });
    const med = (f) => percentile(rows.map(f), 50);
    const diffs = rows.map((x) => x.B.all - x.A.all);
    const diffsMain = rows.map((x) => x.B.main - x.A.main);
    const agree = diffs.every((d) => d < 0) ? 'B lower in every round' : diffs.every((d) => d > 0) ? 'B higher in every round' : 'rounds disagree on the sign';
    console.log(`A: ${opt('--a')}\nB: ${opt('--b')}\n${ROUNDS} rounds × ${N} logins at concurrency ${C}, workerd CPU per login (ms), median over rounds:`);
    console.log(`  A ${fmt(med((x) => x.A.all), 3)} (main thread ${fmt(med((x) => x.A.main), 3)})`);
    console.log(`  B ${fmt(med((x) => x.B.all), 3)} (main thread ${fmt(med((x) => x.B.main), 3)})`);
    console.log(`  B − A per round: median ${fmt(percentile(diffs, 50), 3)} (min ${fmt(Math.min(...diffs), 3)}, max ${fmt(Math.max(...diffs), 3)}); main thread median ${fmt(percentile(diffsMain, 50), 3)}; ${agree}`);
  } finally {
    await stopAll(envs);
    await op.close();
  }
}

runMain(main);
