// A new researcher goes from the first sign-in to "Get Started" with both data tiers, in a real
// browser against the running `wb serve` (started by scripts/test with the local OpenID Connect
// provider of tests/oidc configured as "LOGIN.GOV" and "ID.me"): 2-step verification with a TOTP
// code computed here, identity verification at the provider, both training courses (answers from
// `wb admin training-bank`), the Data User Code of Conduct; then the workbench home, the access
// API, and a second sign-in that asks for a fresh 2-step code.
//
// Needs WB_E2E_BASE_URL, WB_E2E_OUTBOX, WB_E2E_WB_BIN and WB_E2E_CONFIG (set by scripts/test).
// On failure a screenshot and the page's HTML go to tests/e2e/artifacts/ (gitignored).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  launch,
  baseUrl,
  outboxDir,
  TIMEOUT,
  seen,
  expectHeading,
  trackDocuments,
  stepper,
  newAccount,
  createAccount,
  firstSignIn,
  expectDataAccessRequirements,
  moduleItem,
  signIn,
  signOut,
  totp,
  totpStep,
  blockExternalRequests,
  expectModuleCompleted,
  turnOnTwoStep,
  verifyIdentity,
  COURSES,
  completeCourse,
  signCodeOfConduct,
  expectAccessComplete,
  getStarted,
} from './lib.mjs';

test('totp() matches the RFC 6238 test vectors (SHA-1, 6 digits)', () => {
  // base32 of the ASCII secret "12345678901234567890" (RFC 6238 appendix B).
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  assert.equal(Buffer.from('12345678901234567890').length, 20);
  assert.equal(totp(secret, 59), '287082');
  assert.equal(totp(secret, 1111111109), '081804');
  assert.equal(totp(secret, 1234567890), '005924');
  assert.equal(totp(secret.toLowerCase().replace(/(.{4})/g, '$1 '), 59), '287082', 'grouped lower-case key');
});

test('a new researcher completes every access module and gets both tiers', async (t) => {
  const base = baseUrl();
  const outbox = outboxDir();
  const account = newAccount({ prefix: 'acc', familyPrefix: 'Lovelace' });

  const browser = await launch();
  t.after(() => browser.close());
  const context = await browser.newContext();
  await blockExternalRequests(context);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  trackDocuments(page);

  const { step, broken } = stepper(t, page, 'access');
  let secret;
  let usedStep; // the TOTP time step whose code was last accepted (codes are single-use)

  await step('1. create the account and sign in for the first time', async () => {
    const welcome = await createAccount(page, base, outbox, account);
    await firstSignIn(page, base, account, welcome);
  });

  await step('2. Data Access Requirements lists every module; the profile is already confirmed', async () => {
    await expectDataAccessRequirements(page);
    for (const label of [
      'Turn on 2-Step Verification',
      'Verify your identity',
      'Complete Responsible Conduct of Research Training',
      'Complete Controlled Tier Training',
      'Sign Data User Code of Conduct',
    ]) {
      await seen(moduleItem(page, label), `the requirement "${label}"`);
    }
    await expectModuleCompleted(page, 'Confirm your profile');
  });

  await step('3. 2-Step Verification: QR code and key, a wrong code, then the right one', async () => {
    ({ secret, usedStep } = await turnOnTwoStep(page, { checkErrors: true }));
  });

  await step('4. Verify your identity with ID.me at the provider', async () => {
    await verifyIdentity(page, base, account, { provider: 'ID.me' });
  });

  await step('5. Responsible Conduct of Research Training: modules and assessment', async () => {
    await completeCourse(page, COURSES.rt);
  });

  await step('6. Controlled Tier Training: modules and assessment', async () => {
    await completeCourse(page, COURSES.ct);
  });

  await step('7. Sign the Data User Code of Conduct with initials', async () => {
    await signCodeOfConduct(page, account);
  });

  await step('8. all done: both tiers granted → Get Started → workbench home', async () => {
    await expectAccessComplete(page);
    await getStarted(page);
    await seen(page.getByText('Registered Tier', { exact: true }), '"Registered Tier" on the home page');
    await seen(page.getByText('Controlled Tier', { exact: true }), '"Controlled Tier" on the home page');
  });

  await step('9. GET /api/v1/me/access names both tiers', async () => {
    const response = await page.request.get(`${base}/api/v1/me/access`);
    assert.equal(response.status(), 200, `GET /api/v1/me/access returned ${response.status()}`);
    const body = await response.json();
    assert.deepEqual([...body.tiers].sort(), ['controlled', 'registered'], `tiers: ${JSON.stringify(body.tiers)}`);
  });

  await step('10. sign out; signing in again asks for a fresh 2-step code', async () => {
    await signOut(page);
    await page.goto(`${base}/sign-in`);
    await expectHeading(page, 'Sign In');
    await signIn(page, account.username, account.newPassword);
    await expectHeading(page, '2-Step Verification');
    // Codes are single-use: wait for the next time step if this one's code was used already.
    while (totpStep() <= usedStep) await sleep(500);
    const at = Date.now() / 1000;
    await page.getByLabel('Code', { exact: true }).fill(totp(secret, at));
    usedStep = totpStep(at);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expectDataAccessRequirements(page);
    await seen(page.locator('#access-complete'), 'the note that data access is complete');
  });

  await step('11. 2-Step Verification → "Manage": new recovery codes only after the password', async () => {
    await moduleItem(page, 'Turn on 2-Step Verification').getByRole('link', { name: 'Manage', exact: true }).click();
    await expectHeading(page, '2-Step Verification');
    await seen(page.getByText(/You have \d+ unused recovery codes?\./), 'how many recovery codes are left');
    const password = page.getByLabel('Your password', { exact: true }).first();
    const generate = page.getByRole('button', { name: 'Generate new recovery codes', exact: true });
    await password.fill('not my password at all 123');
    await generate.click();
    await seen(page.locator('#codes-error').filter({ hasText: 'Your password is not correct' }), 'the wrong-password error');
    await page.getByLabel('Your password', { exact: true }).first().fill(account.newPassword);
    await page.getByRole('button', { name: 'Generate new recovery codes', exact: true }).click();
    await seen(page.locator('#codes-replaced'), '"New recovery codes were made"');
    assert.equal(await page.locator('#recovery-codes li').count(), 10, 'ten new recovery codes');
    const href = await page.getByRole('link', { name: 'Download codes', exact: true }).getAttribute('href');
    assert.match(href ?? '', /^data:text\/plain/, 'the codes can be downloaded as a text file');
  });

  await step('12. Profile → "Edit": a new city and research background, "Save" says what changed', async () => {
    await page.getByRole('link', { name: 'Profile', exact: true }).first().click();
    await expectHeading(page, 'Your profile');
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await expectHeading(page, 'Edit your profile');
    await page.getByLabel('City', { exact: true }).fill('Rivermouth');
    const background = page.getByRole('textbox', { name: 'Research background', exact: true });
    await background.fill(`${account.background} I now also study sleep.`);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHeading(page, 'Your profile');
    assert.equal(
      (await page.locator('#profile-saved').innerText()).trim(),
      'Profile saved: address, research background updated.',
      'the notice after "Save"',
    );
    await seen(page.getByText(/I now also study sleep\./), 'the new research background');
    // Saving again unchanged says so.
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    assert.equal((await page.locator('#profile-saved').innerText()).trim(), 'No changes.', 'the notice after an unchanged "Save"');
  });

  assert.equal(broken(), null, `the access journey stopped at step "${broken()}"`);
});
