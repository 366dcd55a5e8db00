// The `calls` command's entry module, staged in front of a worker (either one): it counts the
// runtime calls the worker makes — every method called on a binding (KV get / put / delete,
// rate limiter, Durable Objects, queues…), every subrequest (`fetch`), every WebCrypto call,
// `crypto.getRandomValues` and `console.log` — and answers `GET /__bench/calls` itself (the
// worker never sees that request) with the counts so far. Staged by bench/lib/workers.mjs,
// which replaces ./WORKER_MAIN with the worker's own main module. Never used for timing.

import worker from './WORKER_MAIN';

export * from './WORKER_MAIN';

const counts = {};
const bump = (k) => {
  counts[k] = (counts[k] ?? 0) + 1;
};

const realFetch = globalThis.fetch;
globalThis.fetch = function countedFetch(input, init) {
  const req = input instanceof Request ? input : null;
  const url = new URL(req ? req.url : String(input));
  bump(`subrequest ${(init?.method ?? req?.method ?? 'GET').toUpperCase()} ${url.pathname}`);
  return realFetch.call(this ?? globalThis, input, init);
};

for (const m of ['sign', 'verify', 'encrypt', 'decrypt', 'digest', 'importKey', 'exportKey', 'generateKey', 'deriveBits', 'deriveKey', 'wrapKey', 'unwrapKey']) {
  const orig = crypto.subtle[m];
  if (typeof orig !== 'function') continue;
  try {
    Object.defineProperty(crypto.subtle, m, {
      configurable: true,
      value(...args) {
        const alg = args[m === 'importKey' || m === 'exportKey' ? 2 : 0];
        const name = m === 'exportKey' ? '' : typeof alg === 'string' ? alg : alg?.name ?? '';
        bump(`crypto.subtle.${m}${name ? ` ${name}` : ''}`);
        return orig.apply(crypto.subtle, args);
      },
    });
  } catch {
    bump(`(crypto.subtle.${m} not counted)`);
  }
}
{
  const orig = crypto.getRandomValues.bind(crypto);
  try {
    Object.defineProperty(crypto, 'getRandomValues', { configurable: true, value: (a) => (bump('crypto.getRandomValues'), orig(a)) });
  } catch {
    bump('(crypto.getRandomValues not counted)');
  }
}
{
  const orig = console.log.bind(console);
  console.log = (...a) => (bump('console.log'), orig(...a));
}

const wrapped = new WeakMap();
function countedBinding(name, binding) {
  return new Proxy(binding, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (typeof v !== 'function') return v;
      return (...args) => {
        bump(`${name}.${String(prop)}`);
        return v.apply(target, args);
      };
    },
  });
}
function countedEnv(env) {
  let out = wrapped.get(env);
  if (!out) {
    out = {};
    for (const [k, v] of Object.entries(env)) out[k] = v !== null && typeof v === 'object' ? countedBinding(k, v) : v;
    wrapped.set(env, out);
  }
  return out;
}

export default {
  ...worker,
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === '/__bench/calls') return new Response(JSON.stringify(counts), { headers: { 'content-type': 'application/json' } });
    return worker.fetch(request, countedEnv(env), ctx);
  },
};
