// Part 3 of the user guide in a real browser: from "Get Started", create the training
// workspace (Controlled Tier, initial credits, the educational Research Use Statement), go
// through the "Confirm" dialog (and "Keep Editing"), share it as Reader, see it in the public
// Research Hub, and open it as the collaborator, who cannot share it.
//
// Both users create their accounts through the pages; their access modules are then bypassed
// with `wb admin user bypass` the way an administrator would, since access.test.mjs walks the
// modules themselves. Needs WB_E2E_BASE_URL, WB_E2E_OUTBOX, WB_E2E_WB_BIN and WB_E2E_CONFIG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import {
  launch,
  baseUrl,
  outboxDir,
  TIMEOUT,
  seen,
  expectHeading,
  pathOf,
  trackDocuments,
  lastDocument,
  stepper,
  newAccount,
  createAccount,
  firstSignIn,
} from './lib.mjs';

const run = promisify(execFile);

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser journeys through scripts/test`);
  return value;
}

/** Gives `username` every access module as an administrator would (recorded bypasses). */
async function grantAccess(username) {
  for (const module of ['two_factor', 'identity', 'rt_training', 'ct_training', 'code_of_conduct']) {
    await run(
      requiredEnv('WB_E2E_WB_BIN'),
      ['--config', requiredEnv('WB_E2E_CONFIG'), 'admin', 'user', 'bypass', username, '--module', module, '--reason', 'browser journey'],
      { env: { ...process.env, WB_DATA_DIR: dirname(outboxDir()) } },
    );
  }
}

const TEXT_21 = 'This workspace is dedicated solely to educational purposes: learning how to use the workbench datasets, including accessing, manipulating and analyzing data.';
const TEXT_22 = 'Guided exercises with the cohort builder, concept sets and datasets on the synthetic training data.';
const TEXT_23 = 'No specific findings are anticipated; the workspace equips researchers with the tools to explore the available data.';
const DISSEMINATION = 'This workspace is dedicated solely to educational purposes and no findings will be published.';

test('create the training workspace, confirm it, share it as Reader; the reader opens it', async (t) => {
  const base = baseUrl();
  const outbox = outboxDir();
  const owner = newAccount({ prefix: 'own', familyPrefix: 'Wegner' });
  const reader = newAccount({ prefix: 'rdr', familyPrefix: 'Reader' });
  const wsName = `${owner.family}_CWML_training`;

  const browser = await launch();
  t.after(() => browser.close());
  const ownerContext = await browser.newContext();
  const readerContext = await browser.newContext();
  const page = await ownerContext.newPage();
  const other = await readerContext.newPage();
  for (const p of [page, other]) {
    p.setDefaultTimeout(TIMEOUT);
    trackDocuments(p);
  }
  const { step, broken } = stepper(t, page, 'workspace');
  let namespace;

  await step('1. two accounts with access (created through the pages, modules bypassed by an admin)', async () => {
    const welcome = await createAccount(page, base, outbox, owner);
    await firstSignIn(page, base, owner, welcome);
    const welcome2 = await createAccount(other, base, outbox, reader);
    await firstSignIn(other, base, reader, welcome2);
    await grantAccess(owner.username);
    await grantAccess(reader.username);
  });

  await step('2. Get Started → Workspaces → "+"', async () => {
    await page.goto(`${base}/data-access-requirements`);
    await page.getByRole('link', { name: 'Get Started', exact: true }).click();
    await expectHeading(page, 'RESEARCHER WORKBENCH');
    await page.getByRole('link', { name: 'Workspaces', exact: true }).first().click();
    await expectHeading(page, 'Workspaces');
    await page.getByRole('link', { name: 'Create a new workspace', exact: true }).click();
    await expectHeading(page, 'Create a new workspace');
  });

  const fillForm = async () => {
    const create = page.getByRole('button', { name: 'Create Workspace', exact: true });
    await page.getByLabel('Workspace name', { exact: true }).fill(wsName);
    await page.getByLabel('Controlled Tier', { exact: true }).check();
    await page.getByLabel('Dataset version', { exact: true }).selectOption({ label: 'Controlled Tier Dataset v7' });
    assert.match(
      await page.getByLabel('Select a current billing account', { exact: true }).locator('option:checked').innerText(),
      /Use initial credits - \$300\.00 left/,
    );
    await page.getByLabel('Educational Purpose', { exact: true }).check();
    await page.locator('#intended_study').fill(TEXT_21);
    await page.locator('#scientific_approach').fill(TEXT_22);
    await page.locator('#anticipated_findings').fill(TEXT_23);
    await page.locator('input[name="dissemination"][value="other"]').check();
    await page.getByLabel('Other way of disseminating', { exact: true }).fill(DISSEMINATION);
    await page.getByLabel('None of these statements apply to this research project', { exact: true }).check();
    assert.equal(await create.isDisabled(), true, '"Create Workspace" is active before questions 5 and 6 are answered');
    await page.getByLabel('No, my study will not center on underrepresented populations', { exact: true }).check();
    await page.getByLabel('No, I have no concerns at this time about potential stigmatization based on my study.', { exact: true }).check();
    await eventuallyEnabled(create);
    await create.click();
  };

  const eventuallyEnabled = async (button) => {
    const deadline = Date.now() + TIMEOUT;
    while (await button.isDisabled()) {
      assert.ok(Date.now() < deadline, '"Create Workspace" never turned active on a complete form');
      await page.waitForTimeout(100);
    }
  };

  await step('3. the form: "Create Workspace" turns active only when complete', async () => {
    assert.equal(
      await page.getByRole('button', { name: 'Create Workspace', exact: true }).isDisabled(),
      true,
      '"Create Workspace" is active on an empty form',
    );
    await fillForm();
  });

  await step('4. the "Confirm" dialog lists what becomes public; "Keep Editing" keeps the answers', async () => {
    await expectHeading(page, 'Create Workspace');
    for (const text of ['Primary purpose of your project (Question 1)', 'Summary of research purpose (Question 2)', 'Population of interest (Question 5)']) {
      await seen(page.getByText(text, { exact: true }), `"${text}"`);
    }
    await page.getByRole('button', { name: 'Keep Editing', exact: true }).click();
    await expectHeading(page, 'Create a new workspace');
    assert.equal(await page.getByLabel('Workspace name', { exact: true }).inputValue(), wsName);
    assert.equal(await page.getByLabel('Educational Purpose', { exact: true }).isChecked(), true);
    await page.getByRole('button', { name: 'Create Workspace', exact: true }).click();
    await expectHeading(page, 'Create Workspace');
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await expectHeading(page, wsName);
    namespace = pathOf(page).replace('/workspaces/', '');
    assert.equal(lastDocument(page)?.status(), 200);
  });

  await step('5. DATA ANALYSIS and ABOUT; SHARE with the collaborator as Reader', async () => {
    await seen(page.getByText('A cohort is a group of participants based on specific criteria.'), 'the cohorts empty state');
    await seen(page.getByText('A dataset is a table containing data about a cohort that can be exported for analysis.'), 'the datasets empty state');
    await page.getByRole('link', { name: 'ABOUT', exact: true }).click();
    await seen(page.getByText('Controlled Tier', { exact: true }), 'the tier');
    await seen(page.getByText(/\$300\.00 left/), 'the credits');
    await page.getByRole('link', { name: 'SHARE', exact: true }).click();
    await page.getByLabel('Find collaborators', { exact: true }).fill(reader.family);
    const select = page.getByLabel(`Role of Ada ${reader.family}`, { exact: true });
    await seen(select, 'the collaborator in the search results');
    await select.selectOption({ label: 'Reader' });
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await seen(page.getByText(/^Saved\./), 'the "Saved." notice');
    await seen(page.getByText(reader.accountName), 'the collaborator in the list');
  });

  await step('6. the public Research Hub lists it to anyone', async () => {
    const anon = await browser.newContext();
    const hub = await anon.newPage();
    await hub.goto(`${base}/research-hub?q=${encodeURIComponent(owner.family)}`);
    await seen(hub.getByRole('heading', { name: wsName }), 'the workspace in the Research Hub');
    await seen(hub.getByText(`Ada ${owner.family}`), "the owner's name");
    await seen(hub.getByText(/Educational Purpose/).first(), 'the primary purpose');
    await anon.close();
  });

  await step('7. the collaborator sees it as Reader and cannot share it', async () => {
    await other.goto(`${base}/workspaces`);
    const row = other.getByRole('row').filter({ hasText: wsName });
    await seen(row, 'the shared workspace in the list');
    await seen(row.getByText('Reader', { exact: true }), 'the role "Reader"');
    await row.getByRole('link', { name: wsName }).click();
    await expectHeading(other, wsName);
    await other.getByRole('link', { name: 'ABOUT', exact: true }).click();
    assert.equal(await other.getByRole('link', { name: 'SHARE', exact: true }).count(), 0, 'a reader sees "SHARE"');
    const response = await other.goto(`${base}/workspaces/${namespace}/share`);
    assert.equal(response.status(), 403);
    await expectHeading(other, 'Not allowed');
  });

  assert.equal(broken(), null, `the workspace journey stopped at step "${broken()}"`);
});
