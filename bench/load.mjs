// Load generation shared by the benchmark scripts.

import { CookieJar, request } from '../tests/support/http.mjs';

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
 * every step and the assertion's claims.)
 */
export async function quickLogin(origin, label = 'worker') {
  const jar = new CookieJar();
  const start = await request(`${origin}/login/sso`, { jar });
  if (start.status !== 302) throw new Error(`${label}: /login/sso → ${start.status} ${start.body.slice(0, 200)}`);
  const authz = await request(start.location);
  const cb = await request(authz.location, { jar });
  if (cb.status !== 200 || !cb.body.includes('name="assertion"')) throw new Error(`${label}: callback → ${cb.status} ${cb.body.slice(0, 200)}`);
}
