// The journey a new researcher follows, in a real browser against the running `wb serve`
// (started by scripts/test): accept the terms, fill in both sign-up steps, read the welcome
// e-mail, sign in with the temporary password, replace it, reach Data Access Requirements,
// sign out and back in, and look at the public profile. Each step asserts what a person sees.
//
// On failure a screenshot and the page's HTML go to tests/e2e/artifacts/ (gitignored).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, baseUrl, outboxDir, readLatestMail, extract } from './lib.mjs';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const TIMEOUT = 10_000;

const INSTITUTION = 'Northfield University';
const ROLE = 'Graduate trainee (Current student in a Masters, PhD, or Medical school training program)';
const TERMS_CHECKBOX = 'I have read, understand, and agree to the Terms of Use and Privacy Statement.';
const NEW_PASSWORD = 'violet harbor lantern 2931';

/** Poll `fn` until it stops throwing (returns its value) or the timeout passes (rethrows). */
async function eventually(fn, timeoutMs = TIMEOUT) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await sleep(100);
    }
  }
}

/** Wait until the locator is visible; the message says what a person should have seen. */
async function seen(locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: TIMEOUT });
  } catch (err) {
    throw new Error(`expected to see ${what}, but it did not appear within ${TIMEOUT} ms (${err.message.split('\n')[0]})`);
  }
}

async function h1Text(page) {
  return (await page.getByRole('heading', { level: 1 }).first().innerText()).trim();
}

async function expectHeading(page, text) {
  await eventually(async () => assert.equal(await h1Text(page), text, `page heading at ${page.url()}`));
}

function pathOf(page) {
  return new URL(page.url()).pathname;
}

test('a new researcher creates an account and reaches Data Access Requirements', async (t) => {
  const base = baseUrl();
  const outbox = outboxDir();
  const stamp = `${Date.now()}`;
  const username = `e2e${stamp}`;
  const contactEmail = `e2e${stamp}@northfield.example`;
  const accountName = `${username}@researchworkbench.example`;
  const person = {
    given: 'Ada',
    family: `Journey${stamp.slice(-6)}`,
    street: `${stamp.slice(-4)} Lantern Lane`,
    city: 'Northfield',
    state: 'Minnesota',
    zip: '55057',
    country: 'United States',
    background: `Epidemiologist studying sleep and cardiometabolic health in wearable-device data (run ${stamp}).`,
  };

  const browser = await launch();
  t.after(() => browser.close());
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);

  // The last main-frame document response, to check the status of pages reached by redirects.
  let lastDocument = null;
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) lastDocument = response;
  });

  let broken = null;
  let tempPassword;
  let registrationUrl;

  // One named step: skipped after an earlier failure; on failure leaves a screenshot + HTML.
  const step = (name, fn) =>
    t.test(name, { skip: broken ? `an earlier step failed: ${broken}` : false }, async () => {
      try {
        await fn();
      } catch (err) {
        broken = name;
        const file = `journey-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}`;
        try {
          await mkdir(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: join(ARTIFACTS, `${file}.png`), fullPage: true });
          await writeFile(join(ARTIFACTS, `${file}.html`), `<!-- ${page.url()} -->\n${await page.content()}`);
          err.message += `\n  at ${page.url()} (status ${lastDocument?.status() ?? '?'}); screenshot: tests/e2e/artifacts/${file}.png`;
        } catch (shotErr) {
          err.message += `\n  (could not save a screenshot: ${shotErr.message})`;
        }
        throw err;
      }
    });

  const signIn = async (user, password) => {
    await page.getByLabel('Username', { exact: true }).fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign In', exact: true }).click();
  };

  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign Out', exact: true }).click();
    await seen(page.getByRole('link', { name: 'Sign In', exact: true }), 'a "Sign In" link after signing out');
    assert.equal(
      await page.getByRole('button', { name: 'Sign Out', exact: true }).count(),
      0,
      'the "Sign Out" button is still shown after signing out',
    );
  };

  const expectDataAccessRequirements = async () => {
    await page.waitForURL((url) => url.pathname === '/data-access-requirements', { timeout: TIMEOUT });
    await page.waitForLoadState('load');
    assert.ok(lastDocument, 'no document response recorded');
    assert.equal(new URL(lastDocument.url()).pathname, '/data-access-requirements', 'last document response');
    assert.equal(lastDocument.status(), 200, `GET /data-access-requirements returned ${lastDocument.status()}`);
    await expectHeading(page, 'Data Access Requirements');
    for (const module of [
      'Turn on 2-Step Verification',
      'Verify your identity',
      'Complete Responsible Conduct of Research Training',
    ]) {
      await seen(page.getByRole('listitem').filter({ hasText: module }), `the requirement "${module}"`);
    }
  };

  await step('1. home page → Create Account → terms must be accepted', async () => {
    const home = await page.goto(`${base}/`);
    assert.equal(home?.status(), 200, `GET / returned ${home?.status()}`);
    await page.getByRole('link', { name: 'Create Account', exact: true }).first().click();
    await expectHeading(page, 'Terms of Use and Privacy Statement');

    const agree = page.getByRole('checkbox', { name: TERMS_CHECKBOX, exact: true });
    assert.equal(await agree.isChecked(), false, 'the terms checkbox starts checked');
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await seen(page.getByRole('alert').filter({ hasText: /check the box/i }), 'an error asking to check the box');
    await expectHeading(page, 'Terms of Use and Privacy Statement');

    await page.getByRole('checkbox', { name: TERMS_CHECKBOX, exact: true }).check();
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await expectHeading(page, 'Create your account');
    await seen(page.getByText('Step 1 of 2'), '"Step 1 of 2"');
  });

  await step('2. step 1: institution, e-mail must match it, role', async () => {
    const institution = page.getByLabel('Select your institution', { exact: false });
    // Choosing the institution reloads the role list (htmx); wait for it before choosing a role.
    const rolesLoaded = page.waitForResponse((r) => new URL(r.url()).pathname === '/create-account/roles');
    await institution.selectOption({ label: INSTITUTION });
    assert.equal((await rolesLoaded).status(), 200, 'the role list did not reload');
    const role = page.getByLabel('Which of the following best describes your role?', { exact: false });
    await eventually(async () => assert.ok((await role.locator('option', { hasText: ROLE }).count()) === 1, `role "${ROLE}" offered`));
    await sleep(100); // let htmx finish swapping and settling the new <select>

    const email = page.getByLabel('Your institutional email address', { exact: false });
    await email.fill('someone@gmail.com');
    await role.selectOption({ label: ROLE });
    await page.getByRole('button', { name: 'Next', exact: true }).click();

    await seen(
      page.getByRole('alert').filter({ hasText: 'does not match your institution' }),
      'an error that the e-mail "does not match your institution"',
    );
    assert.equal(await email.inputValue(), 'someone@gmail.com', 'the typed e-mail was not kept in the field');
    assert.equal(
      await institution.locator('option:checked').innerText(),
      INSTITUTION,
      'the chosen institution was not kept',
    );
    if ((await role.locator('option:checked').innerText()).trim() !== ROLE) await role.selectOption({ label: ROLE });

    await email.fill(contactEmail);
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await seen(page.getByText('Step 2 of 2'), '"Step 2 of 2"');
  });

  await step('3. step 2: username (live check), about you, address, background', async () => {
    const usernameField = page.getByLabel('Username', { exact: true });
    await usernameField.pressSequentially(username, { delay: 10 });
    await seen(
      page.getByText(`${accountName} is available.`, { exact: true }),
      `the live check "${accountName} is available."`,
    );

    await page.getByLabel('First name', { exact: true }).fill(person.given);
    await page.getByLabel('Last name', { exact: true }).fill(person.family);
    await page.getByLabel('Street address', { exact: true }).fill(person.street);
    await page.getByLabel('City', { exact: true }).fill(person.city);
    await page.getByLabel('State or province', { exact: true }).fill(person.state);
    await page.getByLabel('Zip or postal code', { exact: true }).fill(person.zip);
    await page.getByLabel('Country', { exact: true }).fill(person.country);
    await page.getByRole('textbox', { name: 'Research background', exact: true }).fill(person.background);
    await page
      .getByRole('group', { name: /How did you hear/ })
      .getByRole('checkbox', { name: 'Friends or colleagues', exact: true })
      .check();
    await page.getByLabel('Sex at birth', { exact: true }).selectOption({ label: 'Prefer not to answer' });

    await page.getByRole('button', { name: 'Submit', exact: true }).click();
  });

  await step('4. confirmation page', async () => {
    await expectHeading(page, 'Congratulations!');
    await seen(page.getByText(accountName, { exact: true }), `the account name ${accountName}`);
    await seen(page.getByText(contactEmail, { exact: true }), `the contact e-mail ${contactEmail}`);
  });

  await step('5. welcome e-mail → Complete Registration → sign in with the temporary password', async () => {
    const mail = await readLatestMail(outbox, contactEmail, { timeoutMs: 15_000 });
    const mailedUser = extract(mail, /^Your Username: *(\S+) *$/m);
    tempPassword = extract(mail, /^Your Temporary Password: *(.+?) *$/m);
    registrationUrl = extract(mail, /Complete Registration: *(\S+)/);
    assert.ok(
      mailedUser === username || mailedUser === accountName,
      `the e-mail names username ${mailedUser}, expected ${username} or ${accountName}`,
    );
    assert.ok(tempPassword.length > 0, 'empty temporary password in the e-mail');
    assert.ok(registrationUrl.startsWith(base), `Complete Registration link ${registrationUrl} is not on ${base}`);

    const response = await page.goto(registrationUrl);
    assert.equal(response?.status(), 200, `GET ${registrationUrl} ended with ${response?.status()}`);
    await expectHeading(page, 'Sign In');
    const prefilled = await page.getByLabel('Username', { exact: true }).inputValue();
    assert.ok(
      prefilled === mailedUser || prefilled === username || prefilled === accountName,
      `username field holds "${prefilled}", expected ${mailedUser}`,
    );
    await page.getByLabel('Password', { exact: true }).fill(tempPassword);
    await page.getByRole('button', { name: 'Sign In', exact: true }).click();
  });

  await step('6. Change Your Password: too short, then a good one', async () => {
    await expectHeading(page, 'Change Your Password');
    await page.getByLabel('New password', { exact: true }).fill('short pass');
    await page.getByLabel('Confirm new password', { exact: true }).fill('short pass');
    await page.getByRole('button', { name: 'Enter', exact: true }).click();
    await seen(
      page.getByRole('alert').filter({ hasText: 'at least 15 characters' }),
      'an error mentioning "at least 15 characters"',
    );
    await expectHeading(page, 'Change Your Password');

    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Confirm new password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Enter', exact: true }).click();
  });

  await step('7. Data Access Requirements', async () => {
    await expectDataAccessRequirements();
  });

  await step('8. sign out, sign in with the new password; the temporary one no longer works', async () => {
    await signOut();
    await page.goto(`${base}/sign-in`);
    await expectHeading(page, 'Sign In');
    await signIn(username, NEW_PASSWORD);
    await expectDataAccessRequirements();

    await signOut();
    await page.goto(`${base}/sign-in`);
    await expectHeading(page, 'Sign In');
    await signIn(username, tempPassword);
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

  assert.equal(broken, null, `the journey stopped at step "${broken}"`);
});
