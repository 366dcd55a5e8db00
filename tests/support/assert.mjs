// Assertions shared by the end-to-end files: SPEC's rules for every HTML response, the
// LOCAL_DEV cookie attributes, secrets kept out of output, and the log-line shape.

import assert from 'node:assert/strict';
import { pageText } from './http.mjs';

/** CSP directives as a Map name → [values]. */
export function parseCsp(header) {
  const m = new Map();
  for (const part of (header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) m.set(name.toLowerCase(), values);
  }
  return m;
}

/**
 * SPEC "Rules that hold everywhere" for an HTML response: strict CSP with frame-ancestors
 * 'none' and no inline script allowance, nosniff, Referrer-Policy no-referrer, no inline
 * event handlers; `perMember` adds Cache-Control: no-store. `referrer`: the Referrer-Policy
 * (SPEC: `no-referrer`, except the handoff page's `strict-origin` and the settings pages').
 */
export function assertHtmlHeaders(res, { perMember = false, what = res.url, referrer = 'no-referrer' } = {}) {
  const h = res.headers;
  assert.match(h['content-type'] ?? '', /^text\/html/i, `${what}: content-type`);
  const cspHeader = h['content-security-policy'];
  assert.ok(cspHeader, `${what}: Content-Security-Policy header missing`);
  const csp = parseCsp(cspHeader);
  assert.deepEqual(csp.get('frame-ancestors'), ["'none'"], `${what}: CSP frame-ancestors 'none' (${cspHeader})`);
  const script = csp.get('script-src') ?? csp.get('default-src');
  assert.ok(script, `${what}: CSP has neither script-src nor default-src (${cspHeader})`);
  for (const bad of ["'unsafe-inline'", "'unsafe-eval'", '*', 'http:', 'https:', 'data:']) {
    assert.ok(!script.includes(bad), `${what}: CSP script source allows ${bad} (${cspHeader})`);
  }
  assert.equal(h['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
  assert.equal((h['referrer-policy'] ?? '').toLowerCase(), referrer, `${what}: Referrer-Policy`);
  if (perMember) assert.match(h['cache-control'] ?? '', /no-store/i, `${what}: Cache-Control no-store`);
  assert.doesNotMatch(res.body, /<[a-z][^>]*\son[a-z]+\s*=/i, `${what}: inline event handler in the HTML`);
  // Every inline script must carry a nonce the CSP lists.
  for (const tag of res.body.match(/<script\b[^>]*>/gi) ?? []) {
    if (/\ssrc\s*=/i.test(tag)) continue;
    const nonce = /\snonce\s*=\s*"?([^"\s>]+)/i.exec(tag)?.[1];
    assert.ok(nonce, `${what}: inline <script> without a nonce`);
    assert.ok(script.includes(`'nonce-${nonce}'`), `${what}: script nonce ${nonce} not in CSP (${cspHeader})`);
  }
}

/** The browser-binding / session cookies under LOCAL_DEV: no __Host- prefix, no Secure, HttpOnly, Path=/, SameSite=Lax. */
export function assertLocalDevCookie(cookie, what = cookie.name) {
  assert.ok(!cookie.name.startsWith('__Host-') && !cookie.name.startsWith('__Secure-'), `${what}: no cookie prefix under LOCAL_DEV`);
  assert.equal(cookie.secure, false, `${what}: no Secure under LOCAL_DEV`);
  assert.equal(cookie.httpOnly, true, `${what}: HttpOnly`);
  assert.equal(cookie.path, '/', `${what}: Path=/`);
  assert.equal(cookie.sameSite, 'lax', `${what}: SameSite=Lax under LOCAL_DEV`);
  assert.ok(!('domain' in cookie.attributes), `${what}: host-only (no Domain attribute)`);
}

/** Fails naming the leaked values (shortened) if any secret occurs in text. */
export function assertNoSecrets(text, secrets, where = 'output') {
  const leaked = [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= 8 && text.includes(s)))];
  assert.deepEqual(
    leaked.map((s) => `${s.slice(0, 12)}…(${s.length} chars)`),
    [],
    `secret value(s) found in ${where}`,
  );
}

/** SPEC log-line shape. `failure` requires a non-empty `error` code. */
export function assertLogLine(line, { failure = line.status >= 400 } = {}) {
  // Queue-consumer lines describe a delivery, not an HTTP request: no status or duration needed.
  if (typeof line.route === 'string' && line.route.startsWith('queue')) {
    for (const k of ['tenant', 'route', 'outcome']) assert.ok(k in line, `queue log line lacks ${k}: ${JSON.stringify(line)}`);
    return;
  }
  for (const k of ['tenant', 'route', 'status', 'outcome', 'duration_ms']) assert.ok(k in line, `log line lacks ${k}: ${JSON.stringify(line)}`);
  assert.equal(typeof line.status, 'number', `log status is a number: ${JSON.stringify(line)}`);
  assert.equal(typeof line.duration_ms, 'number', `log duration_ms is a number: ${JSON.stringify(line)}`);
  assert.ok(line.duration_ms >= 0, 'duration_ms ≥ 0');
  assert.equal(typeof line.outcome, 'string', `log outcome is a string: ${JSON.stringify(line)}`);
  assert.equal(typeof line.route, 'string', `log route is a string: ${JSON.stringify(line)}`);
  if (failure) assert.ok(typeof line.error === 'string' && line.error.length > 0, `failure log line has an error code: ${JSON.stringify(line)}`);
}

/** A sign-in that must not have reached the portal. */
export function assertNoHandoff(result, portal, acceptedBefore) {
  assert.equal(result.handoff ?? null, null, `no handoff form expected; got one (${result.final?.status})`);
  assert.equal(portal.accepted.length, acceptedBefore, 'the portal accepted an assertion');
}

export function text(res) {
  return pageText(res.body);
}
