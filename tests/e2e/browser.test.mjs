// Issue 3 — in a real browser: headless Debian Chromium driven by playwright-core opens the
// tenant's login page, clicks the button, signs in on the provider's form and lands on the
// fake portal's Welcome page. Keeps a screenshot of the login page in test-artifacts/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startStack } from '../support/stack.mjs';
import { REPO_ROOT } from '../support/worker.mjs';
import { PASSWORD } from '../support/op.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');

let stack;
let browser;

before(async () => {
  // A missing browser is a failure, not a skip.
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (the setup step installs Debian's chromium)`);
  stack = await startStack({ worker: { name: 'browser' } });
  await stack.createTenant('acme', { sign_in_button_label: 'Sign in with Corporate Account' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
});

test('a member signs in through the login page and the provider form and reaches the portal', { timeout: 120_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));

  const loginUrl = `${stack.worker.tenantOrigin('acme')}/login`;
  const res = await page.goto(loginUrl);
  assert.equal(res.status(), 200);
  const button = page.getByRole('link', { name: 'Sign in with Corporate Account' }).or(page.getByRole('button', { name: 'Sign in with Corporate Account' }));
  await button.first().waitFor({ state: 'visible' });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'login.png'), fullPage: true });

  await button.first().click();
  await page.waitForURL((u) => u.origin === stack.op.origin, { timeout: 15_000 });
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill(PASSWORD);
  await Promise.all([
    page.waitForURL((u) => u.origin === stack.portal.url, { timeout: 30_000 }),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await page.getByRole('heading', { name: /Welcome, Alice Anderson/ }).waitFor({ timeout: 10_000 });
  assert.equal(stack.portal.accepted.length, 1, `the portal accepted one assertion (refused: ${JSON.stringify(stack.portal.refused.map((r) => r.reason))})`);
  assert.equal(stack.portal.accepted[0].claims.email, 'alice@example.com');
  assert.deepEqual(problems.filter((p) => /Content Security Policy|Refused to/i.test(p)), [], 'no CSP violations');
  await context.close();
});
