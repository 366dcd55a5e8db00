// `node bench/bench.mjs calls`: what each worker asks of the runtime per login, counted, not
// timed. Both workers run behind bench/lib/counting-entry.mjs (a module staged in front of
// their own, which counts every binding method call — KV get / put / delete, rate limiter,
// Durable Objects… —, every subrequest, every WebCrypto call, getRandomValues and console.log),
// each under its own `wrangler dev` against one OpenID Provider stub. After 20 whole logins
// (checked as `run` checks them), K `/login/sso` + stub authorize, then their K callbacks, the
// counts read before and after each phase. Prints the calls per login, by route.

import path from 'node:path';
import { CookieJar, parseForms, request } from '../../tests/support/http.mjs';
import { fmt, noFailures, pool } from '../lib/measure.mjs';
import { stagePeer, stageWorker, startTarget, unstage } from '../lib/workers.mjs';
import { stubFor, subrequests } from './run.mjs';

async function counts(t) {
  const r = await request(`${t.apex}/__bench/calls`);
  if (r.status !== 200) throw new Error(`${t.name}: /__bench/calls → ${r.status}`);
  return r.json();
}

const delta = (a, b) => Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]).filter(([, v]) => v));

export default async function calls(o, { onCleanup, stopped, log }) {
  const { op, client } = await stubFor('calls', onCleanup);
  const K = o.logins;
  const out = {};
  for (const [name, staged] of [['worker', stageWorker(o.build, { counting: true })], ['peer', stagePeer(o.peer, { counting: true })]]) {
    onCleanup(() => unstage(staged));
    const t = await startTarget(name, staged, { op, client, persistTo: path.join(staged.dir, 'state') });
    try {
      noFailures(`${name}: warm-up logins`, await pool(20, 4, t.login, stopped));
      const c0 = await counts(t);
      const s0 = op.snapshot();
      const started = [];
      noFailures(
        `${name}: /login/sso`,
        await pool(K, 4, async () => {
          const jar = new CookieJar();
          const sso = await request(`${t.origin}/login/sso`, { jar });
          if (sso.status !== 302) throw new Error(`/login/sso → ${sso.status}`);
          const authz = await request(sso.location);
          if (authz.status !== 302) throw new Error(`stub authorize → ${authz.status}`);
          started.push({ jar, url: authz.location });
        }, stopped),
      );
      const c1 = await counts(t);
      const s1 = op.snapshot();
      noFailures(
        `${name}: callback`,
        await pool(K, 4, async (i) => {
          const cb = await request(started[i].url, { jar: started[i].jar });
          if (cb.status !== 200 || !parseForms(cb.body, cb.url).some((f) => f.fields.has('assertion'))) throw new Error(`callback → ${cb.status} ${cb.body.slice(0, 200)}`);
        }, stopped),
      );
      const c2 = await counts(t);
      out[name] = { sso: delta(c0, c1), callback: delta(c1, c2), ssoStub: subrequests(s0, s1), callbackStub: subrequests(s1, op.snapshot()) };
      log(`${name}: counted ${K} logins`);
    } finally {
      await t.w.stop();
    }
  }
  const keys = [...new Set(Object.values(out).flatMap((x) => [...Object.keys(x.sso), ...Object.keys(x.callback)]))].sort();
  const per = (v) => (v ? fmt(v / K, 2).replace(/\.00$/, '') : '·');
  const lines = [`Runtime calls per login (${K} logins each after 20; counted in front of each worker, not timed):`, ''];
  lines.push('| Call | Worker `/login/sso` | Worker callback | Peer `/login/sso` | Peer callback |', '|---|---|---|---|---|');
  for (const k of keys) lines.push(`| ${k} | ${per(out.worker.sso[k])} | ${per(out.worker.callback[k])} | ${per(out.peer.sso[k])} | ${per(out.peer.callback[k])} |`);
  lines.push(`| (subrequests seen by the stub) | ${per(out.worker.ssoStub)} | ${per(out.worker.callbackStub)} | ${per(out.peer.ssoStub)} | ${per(out.peer.callbackStub)} |`);
  console.log(lines.join('\n'));
}
