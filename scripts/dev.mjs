#!/usr/bin/env node
// The "run it" command: a real OpenID Provider on loopback (users alice/bob, password
// "demo", a login form), dev secrets in .dev.vars (generated once), `wrangler dev` on :8787
// (it builds the worker), the fake portal on :8788, and tenant `demo` created through the
// admin API (with a loopback app redirect URI, for scripts/try-app.mjs). It prints the
// settings page's URL and the admin token to sign in there with. Ctrl-C stops everything
// this script started.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { startOp, PASSWORD } from '../tests/support/op.mjs';
import { startPortal } from '../tests/support/portal.mjs';
import { REPO_ROOT, tenantConfig } from '../tests/support/worker.mjs';
import { ensureDevVarsFile } from './dev-vars.mjs';
import { request } from '../tests/support/http.mjs';

const WORKER_PORT = 8787;
const OP_PORT = 9090;
const PORTAL_PORT = 8788;
const TENANT = 'demo';
// wrangler.toml and .dev.vars live here (the repo root unless PORTAL_SSO_WORKER_DIR says otherwise).
const WORKER_DIR = process.env.PORTAL_SSO_WORKER_DIR ? path.resolve(process.env.PORTAL_SSO_WORKER_DIR) : REPO_ROOT;
const DEV_VARS = path.join(WORKER_DIR, '.dev.vars');
const WRANGLER = path.join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

const say = (msg) => console.log(`[dev] ${msg}`);

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function ensureDevVars() {
  const { vars, created } = ensureDevVarsFile(DEV_VARS);
  if (created) say('generated dev secrets in .dev.vars');
  return vars;
}

const children = new Set();
const closers = [];
let stopping = false;

async function stopAll(code = 0) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  await Promise.race([
    Promise.all([...children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r))))),
    new Promise((r) => setTimeout(r, 5_000)),
  ]);
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await Promise.allSettled(closers.map((c) => c()));
  process.exit(code);
}

process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

async function main() {
  const secrets = ensureDevVars();

  if (!(await portFree(WORKER_PORT))) throw new Error(`port ${WORKER_PORT} is taken; stop whatever listens there (another wrangler dev?)`);
  const opPort = (await portFree(OP_PORT)) ? OP_PORT : 0;
  const op = await startOp({ port: opPort, quiet: false });
  closers.push(() => op.close());
  say(`OpenID Provider: ${op.issuer} (users alice, bob — password "${PASSWORD}")`);

  const portalPort = (await portFree(PORTAL_PORT)) ? PORTAL_PORT : 0;
  // Tenants made by hand on the settings page are looked up through the admin API when their
  // first member arrives.
  const resolveTenant = async (id) => {
    const r = await request(`http://localhost:${WORKER_PORT}/admin/tenants/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, accept: 'application/json' } });
    if (r.status !== 200) return null;
    const t = r.json();
    return { iss: `http://${id}.localhost:${WORKER_PORT}`, aud: t.portal_url, handoffPath: t.handoff_path ?? '/sso/assertion' };
  };
  const portal = await startPortal({ port: portalPort, quiet: false, resolveTenant });
  closers.push(() => portal.close());
  say(`fake portal and webhook receiver: ${portal.url}`);

  const args = [WRANGLER, 'dev', '--port', String(WORKER_PORT), '--ip', '127.0.0.1', '--var', 'LOCAL_DEV:true', '--var', 'BASE_DOMAIN:localhost', '--show-interactive-dev-session=false'];
  const child = spawn(process.execPath, args, {
    cwd: WORKER_DIR,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.add(child);
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!stopping) {
      say(`wrangler dev exited (${code ?? signal})`);
      stopAll(1);
    }
  });
  say(`starting wrangler dev on :${WORKER_PORT} (the first build can take several minutes)…`);

  const apex = `http://localhost:${WORKER_PORT}`;
  const waitingSince = Date.now();
  let nextNote = 60_000;
  for (;;) {
    if (Date.now() - waitingSince > nextNote) {
      say(`still waiting for ${apex}/healthz (${Math.round((Date.now() - waitingSince) / 1000)} s)…`);
      nextNote += 60_000;
    }
    try {
      const r = await request(`${apex}/healthz`, { timeoutMs: 2_000 });
      if (r.status === 200) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }

  const origin = `http://${TENANT}.localhost:${WORKER_PORT}`;
  const clientId = 'demo-portal';
  const clientSecret = crypto.randomBytes(24).toString('base64url');
  await op.addClient({
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [`${origin}/authorization-code/callback`, `${apex}/authorization-code/callback`],
    post_logout_redirect_uris: [`${origin}/login/logout`, `${apex}/login/logout`],
  });
  const config = tenantConfig({
    op,
    portal,
    clientId,
    clientSecret,
    sign_in_button_label: 'Sign in with Corporate Account',
    provision_new_users: true,
    provisioning_webhook_url: portal.webhookUrl,
    // App sign-in (scripts/try-app.mjs plays the app): a loopback redirect, any port.
    app_redirect_uris: ['http://127.0.0.1/cb'],
  });
  const admin = (method, p, body) => request(`${apex}${p}`, { method, body, headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, accept: 'application/json' } });
  const put = await admin('PUT', `/admin/tenants/${TENANT}`, config);
  let webhookSecret = null;
  if (put.status === 201) {
    webhookSecret = put.json().webhook_secret;
  } else if (put.status === 200) {
    // The tenant survived from an earlier run (.wrangler/state): get a fresh webhook secret.
    const rot = await admin('POST', `/admin/tenants/${TENANT}/webhook-secret`);
    if (rot.status === 200) webhookSecret = rot.json().webhook_secret;
  } else {
    throw new Error(`creating tenant ${TENANT} failed: ${put.status} ${put.body}`);
  }
  portal.expectTenant(TENANT, { iss: origin, aud: portal.url });
  if (webhookSecret) portal.setWebhookSecrets(TENANT, [webhookSecret]);
  portal.webhook.fallback = { status: 201, body: { created: true } };

  // A second tenant, to create by hand on the settings page: its client at the provider is
  // registered now (the portal looks up tenants it was not told about: see resolveTenant).
  const second = { id: 'acme', clientId: 'acme-portal', clientSecret: crypto.randomBytes(24).toString('base64url') };
  const secondOrigin = `http://${second.id}.localhost:${WORKER_PORT}`;
  await op.addClient({
    client_id: second.clientId,
    client_secret: second.clientSecret,
    redirect_uris: [`${secondOrigin}/authorization-code/callback`],
    post_logout_redirect_uris: [`${secondOrigin}/login/logout`],
  });

  let seen = 0;
  let seenDeliveries = 0;
  setInterval(() => {
    while (seen < portal.accepted.length) {
      const c = portal.accepted[seen++].claims;
      say(`portal: ${c.email} signed in to tenant ${c.tenant} (provisioned: ${c.provisioned})`);
    }
    while (seenDeliveries < portal.webhook.deliveries.length) {
      const d = portal.webhook.deliveries[seenDeliveries++];
      say(`webhook: ${d.json?.type ?? 'delivery'} for ${d.json?.data?.email ?? '?'} — signature ${d.verified ? 'valid' : `INVALID (${d.verifyError})`}, answered ${d.answered}`);
    }
  }, 500).unref();

  console.log('');
  console.log(`  Open http://${TENANT}.localhost:${WORKER_PORT}/login — sign in as alice / ${PASSWORD}`);
  console.log(`  App sign-in: in another terminal, node scripts/try-app.mjs ${origin} — it prints the /app/login URL to open`);
  console.log(`  Settings page: ${apex}/settings — sign in with the admin token ${secrets.ADMIN_TOKEN} (ADMIN_TOKEN in .dev.vars)`);
  console.log(`    A second tenant by hand: New tenant → id ${second.id}, Okta domain ${op.tenantFields().okta_domain}, Client ID ${second.clientId},`);
  console.log(`    Client secret ${second.clientSecret}, Members Portal URL ${portal.url}; then open ${secondOrigin}/login`);
  console.log('  (Ctrl-C stops the provider, the portal and wrangler dev.)');
  console.log('');
}

main().catch((err) => {
  console.error(`[dev] ${err.message}`);
  stopAll(1);
});
