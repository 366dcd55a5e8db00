// One call that starts the real OP, the fake portal and the worker for a test file, and
// the headless sign-in walk the tests share: /login/sso → OP → callback → handoff form →
// portal. Everything started here is stopped by stop(), which test files call in after().

import crypto from 'node:crypto';
import { browserOrigin, CookieJar, describeChain, follow, pageText, parseForms, request, submitForm } from './http.mjs';
import { startOp } from './op.mjs';
import { startPortal } from './portal.mjs';
import { putTenant, startWorker, tenantConfig } from './worker.mjs';

export const CALLBACK_PATH = '/authorization-code/callback';

/** A client secret with characters that RFC 6749 §2.3.1 form-encoding must protect. */
export function awkwardSecret() {
  return `s3cr3t+/=%:&${crypto.randomBytes(18).toString('base64url')}`;
}

/** Starts what a test file needs. opts.op: false to skip the real OP, or startOp options. */
export async function startStack({ op: opOptions = {}, worker: workerOptions = {} } = {}) {
  const started = [];
  const stack = { op: null, portal: null, worker: null };
  try {
    if (opOptions !== false) {
      stack.op = await startOp(opOptions);
      started.push(stack.op);
    }
    stack.portal = await startPortal();
    started.push(stack.portal);
    stack.worker = await startWorker(workerOptions);
    started.push(stack.worker);
  } catch (e) {
    await Promise.allSettled(started.reverse().map((s) => (s.stop ?? s.close)()));
    throw e;
  }
  const { op, portal, worker } = stack;

  /**
   * Registers a client at `provider` (the real OP by default; a bad-op server needs none),
   * PUTs the tenant and tells the portal to expect it. Throws unless the PUT answers 201.
   */
  async function createTenant(id, overrides = {}, { provider = op, clientAuth = overrides.token_endpoint_auth_method ?? 'client_secret_basic' } = {}) {
    const clientId = overrides.client_id ?? `client-${id}-${crypto.randomBytes(4).toString('hex')}`;
    const clientSecret = overrides.client_secret ?? awkwardSecret();
    const origin = worker.tenantOrigin(id);
    if (provider && typeof provider.addClient === 'function') {
      await provider.addClient({
        client_id: clientId,
        client_secret: clientSecret,
        token_endpoint_auth_method: clientAuth,
        redirect_uris: [`${origin}${CALLBACK_PATH}`, `${worker.apex}${CALLBACK_PATH}`, ...(overrides.extraRedirectUris ?? [])],
        post_logout_redirect_uris: [`${origin}/login/logout`, `${worker.apex}/login/logout`],
      });
    }
    const { extraRedirectUris, ...rest } = overrides;
    const config = tenantConfig({ op: provider, portal, clientId, clientSecret, token_endpoint_auth_method: clientAuth, ...rest });
    const res = await putTenant(worker, id, config);
    if (res.status !== 201) throw new Error(`PUT /admin/tenants/${id} answered ${res.status}: ${res.body}`);
    portal.expectTenant(id, { iss: origin, aud: config.portal_url, handoffPath: config.handoff_path ?? '/sso/assertion' });
    if (res.webhookSecret) portal.setWebhookSecrets(id, [{ label: 'current', secret: res.webhookSecret }]);
    return { id, origin, config, clientId, clientSecret, webhookSecret: res.webhookSecret, response: res };
  }

  return {
    ...stack,
    createTenant,
    signIn: (opts) => signIn({ worker, portal, ...opts }),
    startLogin: (opts) => startLogin({ worker, ...opts }),
    async stop() {
      await Promise.allSettled([worker?.stop(), portal?.close(), op?.close()]);
    },
  };
}

/** The /login/sso URL for a tenant with optional parameters. */
export function loginSsoUrl(worker, tenant, { returnTo, loginHint, portalState, origin } = {}) {
  const u = new URL(`${origin ?? worker.tenantOrigin(tenant)}/login/sso`);
  if (returnTo !== undefined) u.searchParams.set('return_to', returnTo);
  if (loginHint !== undefined) u.searchParams.set('login_hint', loginHint);
  if (portalState !== undefined) u.searchParams.set('portal_state', portalState);
  return u.href;
}

const isCallback = (url) => new URL(url).pathname === CALLBACK_PATH;

/**
 * Starts a login and follows it through the OP up to (not into) the worker's callback.
 * Returns { start, callbackUrl, callbackMethod, callbackBody, chain, response } — callbackUrl
 * null when the chain ended elsewhere (then `response` is where it ended).
 */
export async function startLogin({ worker, tenant, user = 'alice', jar = new CookieJar(), returnTo, portalState, origin, loginHint = user }) {
  const start = await request(loginSsoUrl(worker, tenant, { returnTo, loginHint: loginHint ?? undefined, portalState, origin }), { jar });
  let { response, chain, next } = await follow(start, { jar, stopBefore: (n) => isCallback(n.url) });
  // An IdP answering with form_post renders an auto-submitting form aimed at the callback.
  if (!next && response.status === 200) {
    const form = parseForms(response.body, response.url).find((f) => isCallback(f.action) && f.method === 'POST');
    if (form) next = { method: 'POST', url: form.action, body: form.fields };
  }
  return {
    jar,
    start,
    chain,
    response,
    callbackUrl: next?.url ?? null,
    callbackMethod: next?.method ?? null,
    callbackBody: next?.body ?? null,
  };
}

/** Finds the handoff form (a POST form with an `assertion` field) in a worker page. */
export function handoffForm(res) {
  if (!res || res.status !== 200 || !/html/i.test(res.headers['content-type'] ?? '')) return null;
  return parseForms(res.body, res.url).find((f) => f.method === 'POST' && f.fields.has('assertion')) ?? null;
}

/**
 * Delivers a callback (as the browser would) and walks on to the portal.
 * Returns { callback (first worker response), final (last worker response), handoff form,
 * portalResponse, accepted (portal record) }.
 */
export async function completeLogin({ portal, jar, callbackUrl, callbackMethod = 'GET', callbackBody }) {
  const first = await request(callbackUrl, { method: callbackMethod, body: callbackBody ?? undefined, jar });
  const { response: final, chain } = await follow(first, { jar });
  const form = handoffForm(final);
  if (!form) return { callback: first, final, chain, handoff: null, portalResponse: null, accepted: null };
  const before = portal.accepted.length + portal.refused.length;
  // Posted as a browser posts it: with the Origin the handoff page's Referrer-Policy allows.
  const portalResponse = await submitForm(form, { jar, origin: browserOrigin(final) });
  const raw = form.fields.get('assertion');
  const accepted = portal.accepted.find((a) => a.raw === raw) ?? null;
  const refused = portal.refused.find((a) => a.raw === raw) ?? null;
  if (portal.accepted.length + portal.refused.length === before) throw new Error('the portal recorded nothing for the handoff');
  return { callback: first, final, chain, handoff: form, assertion: raw, portalResponse, accepted, refused };
}

/**
 * The whole headless sign-in. Returns startLogin()'s fields plus completeLogin()'s, and
 * `explain()` for assertion messages.
 */
export async function signIn({ worker, portal, tenant, user = 'alice', jar = new CookieJar(), returnTo, portalState, origin, loginHint }) {
  const s = await startLogin({ worker, tenant, user, jar, returnTo, portalState, origin, loginHint: loginHint === undefined ? user : loginHint });
  if (!s.callbackUrl) {
    return { ...s, final: s.response, accepted: null, explain: () => `no callback reached:\n  ${describeChain(s.chain)}\n${pageText(s.response.body).slice(0, 500)}` };
  }
  const c = await completeLogin({ portal, jar, callbackUrl: s.callbackUrl, callbackMethod: s.callbackMethod, callbackBody: s.callbackBody });
  const explain = () =>
    `login chain:\n  ${describeChain(s.chain)}\ncallback chain:\n  ${describeChain(c.chain)}\nfinal page (${c.final.status}): ${pageText(c.final.body).slice(0, 500)}${
      c.refused ? `\nportal refused: ${c.refused.reason}` : ''
    }`;
  // `chain` is the callback's (completeLogin's overwrites startLogin's); both are kept apart.
  return { ...s, ...c, loginChain: s.chain, callbackChain: c.chain, explain };
}
