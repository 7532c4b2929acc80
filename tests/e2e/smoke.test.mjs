// Smoke test of the running `wb serve` (started by scripts/test): the home page loads in a real
// browser, offers a way to create an account and fits a phone and a desktop screen; and with
// script turned off, sign-up's Step 1 still shows "Describe your role" only for the role
// "Other (describe)" (conditional fields are CSS, .reveal/.revealed in app.css).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, baseUrl, expectNoHorizontalOverflow, expectHeading, TERMS_CHECKBOX, wb } from './lib.mjs';

test('home page loads and offers "Create Account"', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage();

  const response = await page.goto(`${baseUrl()}/`);
  assert.ok(response, 'navigation produced no response');
  assert.equal(response.status(), 200, `GET / returned ${response.status()}`);

  const createAccount = page
    .getByRole('link', { name: 'Create Account' })
    .or(page.getByRole('button', { name: 'Create Account' }));
  await createAccount.first().waitFor({ state: 'visible', timeout: 10_000 });
  assert.ok((await createAccount.count()) >= 1, 'no link or button named "Create Account"');
  await expectNoHorizontalOverflow(page);
});

test('without script, a conditional field shows only while its option is chosen', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();

  await page.goto(`${baseUrl()}/create-account`);
  await page.getByRole('checkbox', { name: TERMS_CHECKBOX, exact: true }).check();
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  await expectHeading(page, 'Create your account');
  const role = page.getByLabel('Which of the following best describes your role?', { exact: false });
  const describe = page.getByLabel('Describe your role', { exact: true });
  assert.equal(await describe.isVisible(), false, '"Describe your role" shows before a role is chosen');
  await role.selectOption({ label: 'Other (describe)' });
  assert.equal(await describe.isVisible(), true, '"Describe your role" does not show for "Other (describe)"');
  await describe.fill('Data steward');
  await role.selectOption({ label: 'Student' });
  assert.equal(await describe.isVisible(), false, '"Describe your role" still shows for "Student"');
  await role.selectOption({ label: 'Other (describe)' });
  assert.equal(await describe.inputValue(), 'Data steward', 'what was typed in the box was lost');
});

test('wb serve generates the demo CDR and points the demo dataset versions at it', async () => {
  // scripts/test runs the server with [demo] cdr_persons = 2000; generation runs in the
  // background after start-up, so wait for it.
  const deadline = Date.now() + 240_000;
  let listing = '';
  for (;;) {
    listing = await wb(['cdr', 'list']);
    const demo = listing.split('\n').filter((l) => / Tier Dataset v7 /.test(l));
    if (demo.length === 2 && demo.every((l) => /\/cdr\/demo-2000$/.test(l.trim()))) {
      for (const line of demo) {
        const dir = line.trim().split(/\s+/).pop();
        assert.ok(existsSync(join(dir, 'manifest.json')), `no manifest.json in ${dir}`);
        assert.ok(existsSync(join(dir, 'index')), `no index in ${dir}`);
      }
      return;
    }
    assert.ok(Date.now() < deadline, `the demo dataset versions have no data after 4 minutes:\n${listing}`);
    await sleep(1000);
  }
});
