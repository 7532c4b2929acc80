// The journey a new researcher follows, in a real browser against the running `wb serve`
// (started by scripts/test): accept the terms, fill in both sign-up steps, read the welcome
// e-mail, sign in with the temporary password, replace it, reach Data Access Requirements,
// sign out and back in, and look at the public profile. Each step asserts what a person sees.
//
// On failure a screenshot and the page's HTML go to tests/e2e/artifacts/ (gitignored).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch,
  baseUrl,
  outboxDir,
  INSTITUTION,
  TIMEOUT,
  eventually,
  seen,
  expectHeading,
  h1Text,
  trackDocuments,
  stepper,
  newAccount,
  acceptTerms,
  fillSignupStep1,
  fillSignupStep2,
  expectSignupDone,
  readWelcomeMail,
  signInFromWelcomeMail,
  changeFirstPassword,
  expectDataAccessRequirements,
  signIn,
  signOut,
  expectNoHorizontalOverflow,
} from './lib.mjs';

test('a new researcher creates an account and reaches Data Access Requirements', async (t) => {
  const base = baseUrl();
  const outbox = outboxDir();
  const person = newAccount({ prefix: 'e2e', familyPrefix: 'Journey' });
  const { username, contactEmail } = person;
  const NEW_PASSWORD = person.newPassword;

  const browser = await launch();
  t.after(() => browser.close());
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  trackDocuments(page);

  // One named step: skipped after an earlier failure; on failure leaves a screenshot + HTML.
  const { step, broken } = stepper(t, page, 'journey');
  let welcome;

  await step('1. home page → Create Account → terms must be accepted', async () => {
    await acceptTerms(page, base, { checkErrors: true });
  });

  await step('2. step 1: institution, e-mail must match it, role', async () => {
    await fillSignupStep1(page, person, { checkErrors: true });
  });

  await step('3. step 2: a failed submit, username (live check replaces the error), about you, address, background', async () => {
    await fillSignupStep2(page, person, { checkErrors: true });
  });

  await step('4. confirmation page', async () => {
    await expectSignupDone(page, person);
  });

  await step('5. welcome e-mail → Complete Registration → sign in with the temporary password', async () => {
    welcome = await readWelcomeMail(outbox, person, base);
    await signInFromWelcomeMail(page, person, welcome);
  });

  await step('6. Change Your Password: too short, then a good one', async () => {
    await changeFirstPassword(page, person, { checkErrors: true });
  });

  await step('7. Data Access Requirements', async () => {
    await expectDataAccessRequirements(page);
  });

  await step('8. sign out, sign in with the new password; the temporary one no longer works', async () => {
    await signOut(page);
    await page.goto(`${base}/sign-in`);
    await expectHeading(page, 'Sign In');
    await signIn(page, username, NEW_PASSWORD);
    await expectDataAccessRequirements(page);

    await signOut(page);
    await page.goto(`${base}/sign-in`);
    await expectHeading(page, 'Sign In');
    await signIn(page, username, welcome.tempPassword);
    await seen(
      page.getByRole('alert').filter({ hasText: 'The username or password is incorrect' }),
      'the message "The username or password is incorrect"',
    );
    await expectHeading(page, 'Sign In');
    assert.equal(await page.getByRole('button', { name: 'Sign Out' }).count(), 0, 'signed in with the temporary password');
  });

  await step('9. public profile shows name and background, not address or e-mail', async () => {
    const response = await page.goto(`${base}/people/${username}`);
    assert.equal(response?.status(), 200, `GET /people/${username} returned ${response?.status()}`);
    await eventually(async () =>
      assert.match(await h1Text(page), new RegExp(`^${person.given} ${person.family}\\b`), 'profile heading'),
    );
    await expectNoHorizontalOverflow(page);
    const text = await page.locator('body').innerText();
    assert.ok(text.includes(person.background), 'the research background is not shown');
    assert.ok(text.includes(INSTITUTION), 'the institution is not shown');
    const html = await page.content();
    for (const [what, secret] of [
      ['street address', person.street],
      ['contact e-mail', contactEmail],
      ['zip code', person.zip],
    ]) {
      assert.ok(!text.includes(secret), `the profile shows the ${what} "${secret}"`);
      assert.ok(!html.includes(secret), `the profile's HTML contains the ${what} "${secret}"`);
    }
  });

  assert.equal(broken(), null, `the journey stopped at step "${broken()}"`);
});
