#!/usr/bin/env node
// Plays the Passport App against the local demo (`npm run dev` running): prints the
// /app/login URL to open in a browser, waits on a loopback port for the redirect (RFC 8252
// §7.3: the demo tenant registers http://127.0.0.1/cb, any port), redeems the one-time code
// at /app/token with its PKCE verifier and prints the assertion's claims, verified against
// the tenant's /.well-known/jwks.json.
//
//   node scripts/try-app.mjs [TENANT_ORIGIN]     # default http://demo.localhost:8787

import crypto from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { listen, request } from '../tests/support/http.mjs';

const origin = (process.argv[2] ?? 'http://demo.localhost:8787').replace(/\/$/, '');
const verifier = crypto.randomBytes(32).toString('base64url');
const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
const state = crypto.randomBytes(16).toString('base64url');
const say = (msg) => console.log(`[app] ${msg}`);

let done;
const finished = new Promise((resolve) => {
  done = resolve;
});

const server = await listen((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname !== '/cb') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!DOCTYPE html><title>Passport App</title><h1>Back in the app</h1><p>You can close this window.</p>');
  done(url.searchParams);
});
const redirectUri = `http://127.0.0.1:${server.port}/cb`;

const login = new URL(`${origin}/app/login`);
login.search = new URLSearchParams({ redirect_uri: redirectUri, state, code_challenge: challenge, code_challenge_method: 'S256' }).toString();
console.log(`\n  Open in a browser:\n\n  ${login.href}\n`);
say(`waiting on ${redirectUri} (Ctrl-C to give up)…`);

const timer = setTimeout(() => {
  say('no redirect within 10 minutes; giving up');
  process.exit(1);
}, 600_000);
const q = await finished;
clearTimeout(timer);

try {
  if (q.get('state') !== state) throw new Error(`the redirect's state is not ours: ${q.get('state')}`);
  if (q.get('iss') !== origin) throw new Error(`iss ${q.get('iss')} is not ${origin} (RFC 9207: do not redeem)`);
  if (q.has('error')) throw new Error(`the sign-in failed: ${q.get('error')} — ${q.get('error_description') ?? ''}`);
  say('got a code; redeeming it at /app/token');

  const res = await request(`${origin}/app/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code: q.get('code') ?? '', redirect_uri: redirectUri, code_verifier: verifier }),
  });
  if (res.status !== 200) throw new Error(`/app/token answered ${res.status}: ${res.body}`);
  const { assertion } = res.json();
  const jwks = await request(`${origin}/.well-known/jwks.json`);
  const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks.json()), { issuer: origin, algorithms: ['EdDSA'] });
  say(`assertion verified against ${origin}/.well-known/jwks.json; its claims:`);
  console.log(JSON.stringify(payload, null, 2));
} catch (e) {
  say(e.message);
  process.exitCode = 1;
} finally {
  await server.close();
}
