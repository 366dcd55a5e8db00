// `node bench/bench.mjs ab --a DIR --b DIR`: which of two builds of the worker costs less CPU
// per login, on this machine, now. Both run at the same time under their own `wrangler dev`,
// against one OpenID Provider stub, and take turns (the same rounds as `run`, A and B in place
// of the worker and the peer): taking turns cancels the drift of a shared machine that makes
// two separate runs disagree by more than most changes. Prints each build's CPU per login
// (median over rounds), the paired difference B − A per round and its median, and whether
// every round agrees on its sign ("rounds disagree" = no measurable difference).

import path from 'node:path';
import { fmt, median, spread } from '../lib/measure.mjs';
import { stageWorker, startTarget, unstage } from '../lib/workers.mjs';
import { stubFor, takeTurns } from './run.mjs';

export default async function ab(o, { onCleanup, stopped, log }) {
  o.warmup ??= Math.max(4 * o.concurrency, Math.ceil(o.logins / 10));
  const { op, client } = await stubFor('ab', onCleanup);
  const targets = [];
  for (const [name, dir] of [['A', o.a], ['B', o.b]]) {
    const staged = stageWorker(dir);
    onCleanup(() => unstage(staged));
    const t = await startTarget(name, staged, { op, client, persistTo: path.join(staged.dir, 'state') });
    onCleanup(() => t.w.stop());
    targets.push(t);
  }
  const rows = await takeTurns(targets, op, { ...o, stopped, log });
  if (op.counts.errors) throw new Error(`the OpenID Provider stub refused requests: ${op.errors.join('; ')}`);
  const diffs = rows.map((x) => x.B.cpu - x.A.cpu);
  const diffsMain = rows.map((x) => x.B.main - x.A.main);
  const d = spread(diffs);
  const agree = diffs.every((x) => x < 0) ? 'B lower in every round' : diffs.every((x) => x > 0) ? 'B higher in every round' : 'rounds disagree on the sign';
  const med = (f, digits = 3) => fmt(median(rows.map(f)), digits);
  console.log(
    [
      `A: ${o.a}`,
      `B: ${o.b}`,
      `${o.rounds} rounds × ${o.logins} logins at concurrency ${o.concurrency}, taking turns; workerd CPU per login (ms), median over rounds:`,
      `  A ${med((x) => x.A.cpu)} (main thread ${med((x) => x.A.main)}), ${med((x) => x.A.loginsPerSec, 1)} logins/s`,
      `  B ${med((x) => x.B.cpu)} (main thread ${med((x) => x.B.main)}), ${med((x) => x.B.loginsPerSec, 1)} logins/s`,
      `  B − A per round: median ${fmt(d.median, 3)} (${fmt(d.min, 3)} to ${fmt(d.max, 3)}); main thread median ${fmt(median(diffsMain), 3)}; B ÷ A ${med((x) => x.B.cpu / x.A.cpu)}; ${agree}${o.rounds < 6 ? ' (too few rounds for the sign to mean much)' : ''}`,
    ].join('\n'),
  );
}
