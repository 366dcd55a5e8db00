// The fake Members Portal and provisioning-webhook receiver, on one port. The portal
// verifies handoff assertions the way SPEC "Handoff to the portal" tells portal authors to
// (signature against {iss}/.well-known/jwks.json, iss, tenant, aud, exp, jti, `channel` web,
// the request's Origin equal to the `origin` claim) and records
// every assertion it accepted or refused; the receiver verifies Standard Webhooks
// signatures with the `standardwebhooks` package and answers from a per-test script.

import { Webhook } from 'standardwebhooks';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { listen, readBody, request } from './http.mjs';

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function html(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`);
}

/**
 * options.port: 0 for any. options.resolveTenant: optional async (tenantId) → { iss, aud,
 * handoffPath } | null, asked once for a tenant no expectTenant() declared (scripts/dev.mjs:
 * tenants created by hand on the settings page); the tests leave it unset.
 * Returns the handle: url, tenants (expectTenant), assertions {accepted, refused},
 * webhook {secrets, deliveries, script, fallback, mode}, waitFor helpers, close().
 */
export async function startPortal({ port = 0, quiet = true, resolveTenant = null } = {}) {
  const tenants = new Map(); // tenant id → { iss, aud }
  const seenJti = new Set();
  const accepted = [];
  const refused = [];
  const jwksFetches = [];
  const webhook = {
    /** tenant id → [{ label, secret }] (a receiver may know several during a rotation) */
    secrets: new Map(),
    deliveries: [],
    /** Consumed one entry per delivery: a status, or { status, body, headers, delayMs }, or 'reset' / 'hang'. */
    script: [],
    /** Answer once the script is used up. */
    fallback: { status: 200, body: { created: false } },
    /** 'up' | 'down' (every request's connection is reset, like a receiver that is not there) */
    mode: 'up',
  };
  const waiters = new Set();
  const hanging = new Set();
  let url;

  function notify() {
    for (const w of [...waiters]) {
      if (w.check()) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(w.check());
      }
    }
  }

  /** Resolves with check()'s truthy value once it holds; rejects after timeoutMs. */
  function waitFor(check, timeoutMs = 30_000, what = 'condition') {
    const v = check();
    if (v) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      const w = { check, resolve };
      w.timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`portal: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      waiters.add(w);
    });
  }

  async function fetchJwks(iss) {
    const r = await request(`${iss}/.well-known/jwks.json`);
    jwksFetches.push({ iss, status: r.status, cacheControl: r.headers['cache-control'] ?? null, contentType: r.headers['content-type'] ?? null });
    if (r.status !== 200) throw new Error(`JWKS ${iss} answered ${r.status}`);
    return r.json();
  }

  async function verifyAssertion(assertion, requestOrigin) {
    let unverified;
    let header;
    try {
      unverified = decodeJwt(assertion);
      header = decodeProtectedHeader(assertion);
    } catch (e) {
      return { ok: false, reason: `malformed: ${e.message}` };
    }
    let expected = tenants.get(unverified.tenant);
    if (!expected && resolveTenant && typeof unverified.tenant === 'string') {
      const found = await Promise.resolve(resolveTenant(unverified.tenant)).catch(() => null);
      if (found) {
        expected = { handoffPath: '/sso/assertion', ...found };
        tenants.set(unverified.tenant, expected);
      }
    }
    if (!expected) return { ok: false, reason: `unknown tenant ${JSON.stringify(unverified.tenant)}`, claims: unverified };
    if (unverified.iss !== expected.iss) return { ok: false, reason: `iss ${unverified.iss} is not ${expected.iss}`, claims: unverified };
    if (header.alg !== 'EdDSA') return { ok: false, reason: `alg ${header.alg}`, claims: unverified };
    if (!header.kid) return { ok: false, reason: 'no kid', claims: unverified };
    let payload;
    try {
      const jwks = await fetchJwks(expected.iss);
      ({ payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), {
        issuer: expected.iss,
        audience: expected.aud,
        algorithms: ['EdDSA'],
        requiredClaims: ['iss', 'aud', 'sub', 'exp', 'iat', 'jti', 'tenant', 'email'],
      }));
    } catch (e) {
      return { ok: false, reason: `verification: ${e.code ?? ''} ${e.message}`, claims: unverified };
    }
    if (payload.tenant !== unverified.tenant) return { ok: false, reason: 'tenant', claims: payload };
    if (typeof payload.aud !== 'string') return { ok: false, reason: 'aud is not a single string', claims: payload };
    if (payload.exp - payload.iat > 120) return { ok: false, reason: `lifetime ${payload.exp - payload.iat}s > 120s`, claims: payload };
    if (payload.channel !== 'web') return { ok: false, reason: `channel ${JSON.stringify(payload.channel)} is not web`, claims: payload };
    // The request's Origin must be the origin that served the handoff page: an assertion
    // replayed from an attacker's page into a victim's browser posts with the attacker's.
    if (requestOrigin !== payload.origin) {
      return { ok: false, reason: `Origin ${JSON.stringify(requestOrigin)} is not the origin claim ${JSON.stringify(payload.origin)}`, claims: payload };
    }
    if (seenJti.has(payload.jti)) return { ok: false, reason: 'jti replayed', claims: payload };
    seenJti.add(payload.jti);
    return { ok: true, claims: payload, header };
  }

  async function handleAssertion(req, res) {
    const ct = req.headers['content-type'] ?? '';
    const raw = await readBody(req);
    const form = new URLSearchParams(raw);
    const assertion = form.get('assertion');
    const meta = { at: Date.now(), contentType: ct, referer: req.headers.referer ?? null, origin: req.headers.origin ?? null, fields: [...form.keys()], raw: assertion };
    if (!ct.startsWith('application/x-www-form-urlencoded') || !assertion) {
      refused.push({ ...meta, reason: 'no assertion field in a form body' });
      notify();
      return html(res, 400, 'Sign-in refused', '<p>No assertion.</p>');
    }
    const v = await verifyAssertion(assertion, req.headers.origin ?? null);
    if (!v.ok) {
      refused.push({ ...meta, reason: v.reason, claims: v.claims });
      notify();
      if (!quiet) console.error('[portal] refused:', v.reason);
      return html(res, 401, 'Sign-in refused', `<p>${esc(v.reason)}</p>`);
    }
    accepted.push({ ...meta, claims: v.claims, header: v.header });
    notify();
    const c = v.claims;
    return html(
      res,
      200,
      `Welcome, ${c.name ?? c.email}`,
      `<p id="who">Signed in as ${esc(c.email)} (${esc(c.sub)}) to tenant ${esc(c.tenant)}.</p>
<p id="provisioned">provisioned: ${esc(String(c.provisioned))}</p>
<p id="return-to">return_to: ${esc(c.return_to ?? '')}</p>`,
    );
  }

  async function handleWebhook(req, res) {
    if (webhook.mode === 'down') {
      webhook.deliveries.push({ at: Date.now(), refusedConnection: true, headers: pickHeaders(req.headers) });
      notify();
      req.socket.destroy();
      return;
    }
    const raw = await readBody(req);
    const headers = pickHeaders(req.headers);
    let json = null;
    try {
      json = JSON.parse(raw);
    } catch {
      /* recorded as not JSON */
    }
    const tenant = json?.data?.tenant;
    const known = webhook.secrets.get(tenant) ?? [];
    const verifiedWith = [];
    let verifyError = known.length ? null : `no secret known for tenant ${JSON.stringify(tenant)}`;
    for (const { label, secret } of known) {
      try {
        new Webhook(secret).verify(raw, headers);
        verifiedWith.push(label);
      } catch (e) {
        verifyError = e.message;
      }
    }
    const delivery = {
      at: Date.now(),
      headers,
      body: raw,
      json,
      verified: verifiedWith.length > 0,
      verifiedWith,
      verifyError: verifiedWith.length ? null : verifyError,
      signatures: (headers['webhook-signature'] ?? '').split(' ').filter(Boolean),
      answered: null,
    };
    webhook.deliveries.push(delivery);
    // A receiver checks the signature before anything else; the script is only consumed by
    // deliveries that verify.
    if (!delivery.verified) {
      delivery.answered = 401;
      notify();
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'bad signature', detail: delivery.verifyError }));
      return;
    }
    const answer = webhook.script.length ? webhook.script.shift() : webhook.fallback;
    if (answer === 'reset') {
      delivery.answered = 'reset';
      notify();
      req.socket.destroy();
      return;
    }
    if (answer === 'hang') {
      delivery.answered = 'hang';
      notify();
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    const status = typeof answer === 'number' ? answer : answer.status;
    delivery.answered = status;
    notify();
    if (typeof answer === 'object' && answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    const body = typeof answer === 'object' && answer.body !== undefined ? answer.body : status === 201 ? { created: true } : { ok: status < 300 };
    res.writeHead(status, { 'content-type': 'application/json', ...(typeof answer === 'object' ? answer.headers ?? {} : {}) });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  function pickHeaders(h) {
    const out = {};
    for (const k of ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'content-type', 'user-agent']) if (h[k] !== undefined) out[k] = h[k];
    return out;
  }

  const srv = await listen(async (req, res) => {
    try {
      const path = new URL(req.url, 'http://x').pathname;
      if (req.method === 'POST' && path === '/webhook') return await handleWebhook(req, res);
      if (req.method === 'POST') {
        const t = [...tenants.values()].find((x) => x.handoffPath === path);
        if (t || path === '/sso/assertion') return await handleAssertion(req, res);
      }
      if (req.method === 'GET' && path === '/login') return html(res, 200, 'Portal password login', '<p>Sign in with your portal password.</p>');
      if (req.method === 'GET' && path === '/') return html(res, 200, 'Members Portal', '<p>Portal home.</p>');
      return html(res, 404, 'Not found', '');
    } catch (e) {
      if (!res.headersSent) html(res, 500, 'Portal error', `<pre>${esc(e.stack)}</pre>`);
      return undefined;
    }
  }, port);
  url = `http://127.0.0.1:${srv.port}`;

  return {
    url,
    port: srv.port,
    webhookUrl: `${url}/webhook`,
    accepted,
    refused,
    jwksFetches,
    webhook,
    /** Declares a tenant this portal serves: assertions must carry iss = tenantOrigin, aud = aud. */
    expectTenant(tenant, { iss, aud = url, handoffPath = '/sso/assertion' }) {
      tenants.set(tenant, { iss, aud, handoffPath });
    },
    /** Sets the webhook secrets the receiver knows for a tenant (labels name them in records). */
    setWebhookSecrets(tenant, list) {
      webhook.secrets.set(tenant, list.map((s, i) => (typeof s === 'string' ? { label: `secret${i}`, secret: s } : s)));
    },
    /** Waits for the n-th accepted assertion (1-based count overall). */
    waitForAccepted(count, timeoutMs = 30_000) {
      return waitFor(() => accepted.length >= count && accepted[count - 1], timeoutMs, `${count} accepted assertion(s)`);
    },
    waitForDeliveries(predicate, timeoutMs = 30_000, what = 'webhook deliveries') {
      return waitFor(() => {
        const list = webhook.deliveries.filter(predicate);
        return list.length ? list : null;
      }, timeoutMs, what);
    },
    waitFor,
    reset() {
      accepted.length = 0;
      refused.length = 0;
      webhook.deliveries.length = 0;
      webhook.script = [];
      webhook.mode = 'up';
    },
    async close() {
      for (const w of waiters) clearTimeout(w.timer);
      waiters.clear();
      for (const r of hanging) r.destroy();
      await srv.close();
    },
  };
}
