// The benchmark's harness floor (bench/run.mjs): a plain JavaScript worker that makes the
// runtime calls a login makes, one kind per route, and nothing else. Each route answers and
// writes one JSON log line, as every request to the Rust worker does. What these requests
// cost the workerd process is what the local runtime, KV emulation and fetch charge any
// worker; the Rust worker's CPU above it is its own.
//
//   GET /healthz                      an empty request
//   GET /kv/get?key=K                 + one KV read (edge-cached like the worker's reads)
//   GET /kv/put?key=K                 + one KV write of 600 bytes with a TTL
//   GET /kv/delete?key=K              + one KV delete
//   GET /fetch?url=U                  + one subrequest: a form POST, its JSON answer read
//   GET /start                        the start of a login, warm: a 600-byte KV write with a
//                                     TTL (the pending login), a 302 with a cookie
//   GET /callback?key=K&url=U         the callback's runtime calls in one request: read and
//                                     delete K, the form POST to U, a 1.6 KB KV write with a
//                                     TTL, a 2 KB HTML page with the worker's security headers
//                                     and a cookie (no signature check, no parsing beyond JSON);
//                                     &skip=gdfp leaves out the read, delete, POST or write
//                                     (bench/steps.mjs)
//   GET /login/sso?tenant_key&idp_key the Rust worker's /login/sso runtime calls, for the
//                                     first request in a fresh isolate: two KV reads, one
//                                     KV write, a 302 with a cookie
//
// Not part of the product; bench/run.mjs starts it under `wrangler dev`.
const VALUE = 'v'.repeat(600);
const SESSION = 's'.repeat(1600);
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>Signing in</title></head><body><form method="post" action="https://portal.example/sso/assertion"><input type="hidden" name="assertion" value="${'a'.repeat(1700)}"><noscript><button>Continue</button></noscript></form></body></html>`;
const FORM = `grant_type=authorization_code&code=${'c'.repeat(43)}&redirect_uri=${encodeURIComponent('http://acme.localhost:8787/authorization-code/callback')}&code_verifier=${'v'.repeat(43)}`;

async function postForm(url) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: `Basic ${btoa('client:secret')}` },
    body: FORM,
    redirect: 'manual',
  });
  return r.status === 200 ? r.text() : '';
}

export default {
  async fetch(request, env) {
    const started = Date.now();
    const url = new URL(request.url);
    const q = url.searchParams;
    let response;
    switch (url.pathname) {
      case '/kv/get': {
        const value = await env.KV.get(q.get('key') ?? '', { type: 'text', cacheTtl: 30 });
        response = new Response(value === null ? 'miss' : 'hit');
        break;
      }
      case '/kv/put':
        await env.KV.put(q.get('key') ?? '', VALUE, { expirationTtl: 600 });
        response = new Response('ok');
        break;
      case '/kv/delete':
        await env.KV.delete(q.get('key') ?? '');
        response = new Response('ok');
        break;
      case '/fetch': {
        const body = await postForm(q.get('url') ?? '');
        response = new Response(body.length > 1000 ? 'ok' : 'upstream');
        break;
      }
      case '/start': {
        const state = crypto.randomUUID();
        await env.KV.put(`floor-pending:${state}`, VALUE, { expirationTtl: 600 });
        response = new Response(null, {
          status: 302,
          headers: { location: `https://idp.invalid/authorize?state=${state}`, 'set-cookie': `floor=${state}; Path=/; HttpOnly; SameSite=Lax`, 'cache-control': 'no-store' },
        });
        break;
      }
      case '/callback': {
        const key = q.get('key') ?? '';
        // bench/steps.mjs leaves calls out to price them: g, d, f, p below.
        const skip = q.get('skip') ?? '';
        const pending = skip.includes('g') ? '' : await env.KV.get(key, { type: 'text' });
        if (!skip.includes('d')) await env.KV.delete(key);
        const tokens = skip.includes('f') ? { id_token: 'skipped' } : JSON.parse(await postForm(q.get('url') ?? ''));
        const sid = crypto.randomUUID();
        if (!skip.includes('p')) await env.KV.put(`floor-session:${sid}`, SESSION, { expirationTtl: 43200 });
        response = new Response(pending !== null && tokens.id_token ? PAGE : 'missing', {
          headers: {
            'content-type': 'text/html; charset=utf-8',
            'content-security-policy': "default-src 'none'; script-src 'nonce-abc'; style-src 'nonce-abc'; form-action https://portal.example; frame-ancestors 'none'; base-uri 'none'",
            'x-content-type-options': 'nosniff',
            'referrer-policy': 'no-referrer',
            'cache-control': 'no-store',
            'set-cookie': `floor_session=${sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200`,
          },
        });
        break;
      }
      case '/login/sso': {
        const tenant = await env.KV.get(q.get('tenant_key') ?? '', { type: 'text', cacheTtl: 30 });
        const idp = await env.KV.get(q.get('idp_key') ?? '', { type: 'text', cacheTtl: 30 });
        const state = crypto.randomUUID();
        await env.KV.put(`floor-pending:${state}`, JSON.stringify({ state, tenant: tenant?.length ?? 0, idp: idp?.length ?? 0 }), { expirationTtl: 600 });
        response = new Response(null, {
          status: 302,
          headers: {
            location: `https://idp.invalid/authorize?state=${state}&tenant_bytes=${tenant?.length ?? 0}&idp_bytes=${idp?.length ?? 0}`,
            'set-cookie': `floor=${state}; Path=/; HttpOnly; SameSite=Lax`,
            'cache-control': 'no-store',
          },
        });
        break;
      }
      default:
        response = new Response('ok', { headers: { 'content-type': 'text/plain' } });
    }
    console.log(JSON.stringify({ tenant: null, route: url.pathname, status: response.status, outcome: 'ok', duration_ms: Date.now() - started }));
    return response;
  },
};
