// Smoke test of the running `wb serve` (started by scripts/test): the home page loads in a real
// browser and offers a way to create an account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, baseUrl, expectNoHorizontalOverflow } from './lib.mjs';

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
