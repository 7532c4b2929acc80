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
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  launch,
  baseUrl,
  outboxDir,
  TIMEOUT,
  seen,
  expectHeading,
  pathOf,
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
} from './lib.mjs';

const run = promisify(execFile);

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser journeys through scripts/test`);
  return value;
}

/** The question bank of `course` with the correct answers, from `wb admin training-bank`. */
async function trainingBank(course) {
  const bin = requiredEnv('WB_E2E_WB_BIN');
  const config = requiredEnv('WB_E2E_CONFIG');
  const { stdout } = await run(bin, ['--config', config, 'admin', 'training-bank', '--course', course, '--json'], {
    env: { ...process.env, WB_DATA_DIR: dirname(outboxDir()) },
    maxBuffer: 16 * 1024 * 1024,
  });
  const bank = JSON.parse(stdout);
  assert.ok(Array.isArray(bank) && bank.length > 0, `training-bank --course ${course} printed no questions`);
  return new Map(bank.map((q) => [q.id, q]));
}

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
  const initials = `${account.given[0]}${account.family[0]}`.toUpperCase(); // "AL"
  const fullName = `${account.given} ${account.family}`;

  const browser = await launch();
  t.after(() => browser.close());
  const context = await browser.newContext();
  // The provider's pages @import a web font; nothing outside loopback is reachable here.
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/])/, (route) => route.abort());
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  trackDocuments(page);

  const { step, broken } = stepper(t, page, 'access');
  let secret;
  let usedStep; // the TOTP time step whose code was last accepted (codes are single-use)

  /** Click "Start" in the Data Access Requirements item `label`. */
  const start = async (label) => {
    await expectDataAccessRequirements(page);
    const link = moduleItem(page, label).getByRole('link', { name: 'Start', exact: true });
    await seen(link, `a "Start" link in "${label}"`);
    await link.click();
  };

  const expectCompleted = async (label) => {
    await expectDataAccessRequirements(page);
    await seen(moduleItem(page, label).getByText(/Completed on:/), `"Completed on:" in "${label}"`);
  };

  /** Modules, then the assessment with the bank's correct answers; ends on Data Access Requirements. */
  const completeCourse = async (courseKey, label, title) => {
    await start(label);
    await page.waitForURL((url) => url.pathname === `/training/${courseKey}`);
    await expectHeading(page, title);
    const policy = page.locator('#policy');
    await seen(policy, 'the assessment policy (#policy)');
    assert.match(await policy.innerText(), /24 hours/, 'the policy does not mention the 24-hour wait');

    await page.getByRole('link', { name: 'Start', exact: true }).click();
    let modules = 0;
    for (;;) {
      await page.waitForLoadState('load');
      if (!/\/modules\//.test(pathOf(page))) break;
      assert.ok(++modules <= 30, 'more than 30 module pages: "Mark as read and continue" does not advance');
      const before = page.url();
      await page.getByRole('button', { name: 'Mark as read and continue', exact: true }).click();
      await page.waitForURL((url) => url.href !== before, { timeout: TIMEOUT });
    }
    assert.ok(modules > 0, 'the course had no module pages');
    assert.equal(pathOf(page), `/training/${courseKey}`, 'after the last module the course page should show');
    await expectHeading(page, title);

    const bank = await trainingBank(courseKey);
    await page.getByRole('button', { name: 'Start the assessment', exact: true }).click();
    await expectHeading(page, `${title}: assessment`);
    const fieldsets = page.locator('fieldset');
    await seen(fieldsets, 'the assessment questions');
    const count = await fieldsets.count();
    for (let i = 0; i < count; i++) {
      const name = await fieldsets.nth(i).locator('input[type="radio"]').first().getAttribute('name');
      const id = name?.replace(/^q_/, '');
      const question = bank.get(id);
      assert.ok(question, `question ${name} on the page is not in the ${courseKey} bank`);
      await fieldsets.nth(i).locator(`input[type="radio"][name="${name}"][value="${question.correct}"]`).check();
    }
    await page.getByRole('button', { name: 'Submit answers', exact: true }).click();
    await seen(page.getByText('Congratulations, you passed.'), '"Congratulations, you passed."');
    await page.getByRole('link', { name: 'Continue to Researcher Workbench', exact: true }).click();
    await expectCompleted(label);
  };

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
    await expectCompleted('Confirm your profile');
  });

  await step('3. 2-Step Verification: QR code and key, a wrong code, then the right one', async () => {
    await start('Turn on 2-Step Verification');
    await expectHeading(page, '2-Step Verification');
    await seen(page.locator('.qr svg, svg'), 'a QR code (an <svg>)');
    secret = (await page.locator('#totp-secret').innerText()).trim();
    assert.match(secret, /^[A-Z2-7]{2,8}( [A-Z2-7]{1,8})+$/, `the key "${secret}" is not base32 grouped with spaces`);

    const now = Date.now() / 1000;
    const nearby = [-30, 0, 30].map((d) => totp(secret, now + d));
    const wrong = ['000000', '111111', '222222'].find((c) => !nearby.includes(c));
    await page.getByLabel('6-digit code', { exact: true }).fill(wrong);
    await page.getByRole('button', { name: 'Turn on 2-Step Verification', exact: true }).click();
    await seen(page.getByRole('alert'), `an error for the wrong code ${wrong}`);
    await expectHeading(page, '2-Step Verification');

    secret = (await page.locator('#totp-secret').innerText()).trim();
    const at = Date.now() / 1000;
    await page.getByLabel('6-digit code', { exact: true }).fill(totp(secret, at));
    usedStep = totpStep(at);
    await page.getByRole('button', { name: 'Turn on 2-Step Verification', exact: true }).click();
    await seen(page.locator('#recovery-codes'), 'the recovery codes (#recovery-codes)');
    assert.ok((await page.locator('#recovery-codes li').count()) > 0, 'no recovery codes listed');
    await page.getByRole('link', { name: 'Continue', exact: true }).click();
    await expectCompleted('Turn on 2-Step Verification');
  });

  await step('4. Verify your identity with ID.me at the provider', async () => {
    await start('Verify your identity');
    await expectHeading(page, 'Verify your identity');
    await seen(page.getByRole('button', { name: 'LOGIN.GOV', exact: true }), 'the provider "LOGIN.GOV"');
    await seen(page.getByRole('button', { name: 'ID.me', exact: true }), 'the provider "ID.me"');
    await page.getByRole('button', { name: 'ID.me', exact: true }).click();

    // oidc-provider's devInteractions: login form (any login, any password), then consent.
    await page.waitForURL((url) => url.origin !== base && url.pathname.startsWith('/interaction/'), { timeout: TIMEOUT });
    await expectHeading(page, 'Sign-in');
    await page.locator('input[name="login"]').fill(`idme-${account.username}`);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in', exact: true }).click();
    await expectHeading(page, 'Authorize');
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await expectCompleted('Verify your identity');
  });

  await step('5. Responsible Conduct of Research Training: modules and assessment', async () => {
    await completeCourse('rt', 'Complete Responsible Conduct of Research Training', 'Responsible Conduct of Research');
  });

  await step('6. Controlled Tier Training: modules and assessment', async () => {
    await completeCourse('ct', 'Complete Controlled Tier Training', 'Controlled Tier Training');
  });

  await step('7. Sign the Data User Code of Conduct with initials', async () => {
    await start('Sign Data User Code of Conduct');
    await page.getByRole('link', { name: 'Proceed', exact: true }).click();
    await expectHeading(page, 'Accept Data User Code of Conduct');
    await seen(page.getByText(fullName, { exact: true }), `the full name "${fullName}"`);
    const boxes = await page.getByLabel('Initials', { exact: true }).all();
    assert.ok(boxes.length > 0, 'no boxes labelled "Initials"');
    for (const box of boxes) await box.fill(initials);
    await page.getByRole('button', { name: 'Accept', exact: true }).click();
    await expectCompleted('Sign Data User Code of Conduct');
  });

  await step('8. all done: both tiers granted → Get Started → workbench home', async () => {
    await expectDataAccessRequirements(page);
    await seen(page.getByText('Thank you for completing all the necessary steps'), '"Thank you for completing all the necessary steps"');
    await seen(page.getByText('Researcher Workbench data access is complete'), '"Researcher Workbench data access is complete"');
    for (const tier of ['Registered Tier data', 'Controlled Tier data']) {
      await seen(
        page.locator('.tier').filter({ hasText: tier }).getByText(/Granted/),
        `"Granted" for ${tier}`,
      );
    }
    await page.getByRole('link', { name: 'Get Started', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/home');
    await expectHeading(page, 'RESEARCHER WORKBENCH');
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

  assert.equal(broken(), null, `the access journey stopped at step "${broken()}"`);
});
