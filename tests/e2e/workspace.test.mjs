// Part 3 of the user guide in a real browser against the running `wb serve` (started by
// scripts/test): the OWNER goes from the first sign-in through every access module to "Get
// Started", creates the training workspace (Controlled Tier, initial credits, the educational
// Research Use Statement), goes through the "Create Workspace" confirm step (and "Keep Editing"),
// shares it with the COLLABORATOR as Reader, and finds it in the public Research Hub; then the
// collaborator signs in, sees it as Reader, and cannot share it. In between the owner builds the
// trainee's cohort in the cohort builder (live counts, a reload mid-edit, Save Cohort), which the
// Reader then opens read-only.
//
// The collaborator's account is created through the pages; an administrator then bypasses their
// access modules with `wb admin user bypass` (so their sign-in asks no 2-step code).
//
// Needs WB_E2E_BASE_URL, WB_E2E_OUTBOX, WB_E2E_WB_BIN and WB_E2E_CONFIG (set by scripts/test).
// On failure a screenshot and the page's HTML go to tests/e2e/artifacts/ (gitignored).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch,
  baseUrl,
  outboxDir,
  TIMEOUT,
  eventually,
  seen,
  expectHeading,
  pathOf,
  trackDocuments,
  lastDocument,
  stepper,
  newAccount,
  createAccount,
  firstSignIn,
  signIn,
  signOut,
  expectDataAccessRequirements,
  blockExternalRequests,
  completeAccessModules,
  expectAccessComplete,
  getStarted,
  bypassAccessModules,
  expectNoHorizontalOverflow,
} from './lib.mjs';

const INTENDED_STUDY =
  'This workspace is for training only: I will learn how to find, build and analyze cohorts and datasets in the ' +
  'Researcher Workbench, following the training material, so that I can later use the data responsibly.';
const SCIENTIFIC_APPROACH =
  'Guided exercises with the cohort builder, concept sets, datasets and notebooks, using descriptive statistics ' +
  'on small example cohorts.';
const ANTICIPATED_FINDINGS =
  'No scientific findings are anticipated; the workspace builds the skills needed to explore the available data ' +
  'in future research projects.';
const DISSEMINATION = 'This workspace is dedicated solely to educational purposes and no findings will be published.';

/** POSTs a cohort definition to the count API from the signed-in page (its session and CSRF
 * token); returns { status, body }. */
async function countCohort(page, namespace, definition) {
  return page.evaluate(async ({ namespace, definition }) => {
    const token = document.querySelector('input[name="csrf_token"]')?.value ?? '';
    const r = await fetch(`/api/v1/workspaces/${namespace}/cohorts/count`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': token },
      body: JSON.stringify({ definition }),
    });
    return { status: r.status, body: await r.json() };
  }, { namespace, definition });
}

/** Every participant count the page shows (criteria, groups, total, attrition, chart, concept
 * search, the cohort list): none may be from 1 to 20. Returns how many show "≤ 20". */
async function expectNoSmallCounts(page, where) {
  const texts = await page
    .locator('.count, #total-count, .chart-count, .count-inline, table.attrition td, table.cohort-list td')
    .allTextContents();
  for (const raw of texts) {
    const t = raw.trim();
    if (/^\d[\d,]*$/.test(t)) {
      const n = Number(t.replace(/,/g, ''));
      assert.ok(n === 0 || n > 20, `${where} shows the count ${t}`);
    }
  }
  return texts.filter((t) => t.trim() === '≤ 20').length;
}

/** The builder's total as shown, once it is a count (not "—"). */
async function shownTotal(page) {
  let text;
  await eventually(async () => {
    text = (await page.locator('#total-count').innerText()).trim();
    assert.match(text, /^(\d[\d,]*|≤ 20)$/, `the total count is "${text}"`);
  });
  return text;
}

/** "Add Criteria" (the menu `menu`) → `entry`, then on the criteria page search `words` and
 * click "+" on `concept`. */
async function addConcept(page, menu, entry, words, concept) {
  await menu.locator('summary').click();
  await menu.getByRole('link', { name: entry, exact: true }).click();
  await expectHeading(page, `Add Criteria: ${entry}`);
  await page.getByRole('searchbox').fill(words);
  const add = page.getByRole('button', { name: `Add ${concept}`, exact: true });
  await seen(add, `"${concept}" found by "${words}"`);
  await expectNoSmallCounts(page, `the search for "${words}"`);
  await add.click();
  await expectHeading(page, 'New cohort');
}

const T2D = {
  include: [{ id: 'g-t2d', criteria: [{ id: 'c-t2d', kind: { type: 'DOMAIN', domain: 'CONDITION', concept_id: 201826 } }] }],
};

test('the owner creates the training workspace and shares it as Reader; the collaborator opens it', async (t) => {
  const base = baseUrl();
  const outbox = outboxDir();
  const owner = newAccount({ prefix: 'own', familyPrefix: 'Wegner' });
  const collaborator = newAccount({ prefix: 'col', familyPrefix: 'Hopper', given: 'Grace' });
  const ownerName = `${owner.given} ${owner.family}`;
  const collaboratorName = `${collaborator.given} ${collaborator.family}`;
  const wsName = `${owner.family}_CWML_training`;

  const browser = await launch();
  t.after(() => browser.close());
  const context = await browser.newContext();
  await blockExternalRequests(context);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  trackDocuments(page);

  const { step, broken } = stepper(t, page, 'workspace');
  let namespace;

  const createButton = () => page.getByRole('button', { name: 'Create Workspace', exact: true });
  const expectCreateButton = async (disabled, why) =>
    eventually(async () => assert.equal(await createButton().isDisabled(), disabled, why));

  await step('1a. OWNER: create the account and sign in for the first time', async () => {
    const welcome = await createAccount(page, base, outbox, owner);
    await firstSignIn(page, base, owner, welcome);
  });

  await step('1b. OWNER: 2-step verification, identity, RT and CT training, code of conduct', async () => {
    await completeAccessModules(page, base, owner);
    await expectAccessComplete(page);
  });

  await step('1c. COLLABORATOR: created through the pages, access given with `wb admin user bypass`', async () => {
    const other = await browser.newContext();
    try {
      const otherPage = await other.newPage();
      otherPage.setDefaultTimeout(TIMEOUT);
      trackDocuments(otherPage);
      const welcome = await createAccount(otherPage, base, outbox, collaborator);
      await firstSignIn(otherPage, base, collaborator, welcome);
      await bypassAccessModules(collaborator.username);
      await otherPage.reload();
      await expectAccessComplete(otherPage);
    } finally {
      await other.close();
    }
  });

  await step('2. OWNER: Get Started → home: "Workspaces +" → "+"', async () => {
    await getStarted(page);
    await seen(page.getByRole('heading', { name: 'Workspaces', level: 2, exact: true }), 'the home page "Workspaces"');
    await page.getByRole('link', { name: 'Create a new workspace', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/workspaces/new');
    await expectHeading(page, 'Create a new workspace');
  });

  await step('3. the form: "Create Workspace" turns active only once the form is complete', async () => {
    await expectCreateButton(true, '"Create Workspace" is active on an empty form');

    await page.getByLabel('Workspace name', { exact: true }).fill(wsName);
    await page.getByRole('radio', { name: 'Controlled Tier', exact: true }).check();
    // The dataset list follows the tier; its default, the tier's newest version, is kept.
    const version = page.locator('select[name="cdr_version_controlled"]');
    await eventually(async () => assert.equal(await version.isVisible(), true, 'the Controlled Tier dataset list is hidden'));
    assert.equal(
      await page.locator('select[name="cdr_version_registered"]').isVisible(),
      false,
      'the Registered Tier dataset list still shows after choosing "Controlled Tier"',
    );
    assert.equal(
      (await version.locator('option:checked').innerText()).trim(),
      'Controlled Tier Dataset v7',
      `"Dataset version" offers: ${(await version.locator('option').allInnerTexts()).join(' | ')}`,
    );
    const billing = page.getByLabel('Select a current billing account', { exact: true });
    assert.equal(
      (await billing.locator('option:checked').innerText()).trim(),
      'Use initial credits - $300.00 left',
      'the billing account shown',
    );

    // Research Use Statement
    await page.getByRole('checkbox', { name: 'Educational Purpose', exact: true }).check();
    await page.getByLabel(/^2\.1 /).fill(INTENDED_STUDY);
    await page.getByLabel(/^2\.2 /).fill(SCIENTIFIC_APPROACH);
    await page.getByLabel(/^2\.3 /).fill(ANTICIPATED_FINDINGS);
    // Question 3's "Other" (Question 5 has an "Other" population group too); its box shows
    // only once "Other" is ticked.
    const otherWay = page.getByRole('textbox', { name: 'Other way of disseminating', exact: true });
    assert.equal(await otherWay.isVisible(), false, '"Other way of disseminating" shows before "Other" is ticked');
    await page.getByRole('checkbox', { name: 'Other', exact: true }).and(page.locator('[name="dissemination"]')).check();
    await otherWay.fill(DISSEMINATION);
    await page.getByRole('checkbox', { name: 'None of these statements apply to this research project', exact: true }).check();
    await expectCreateButton(true, '"Create Workspace" is active before questions 5 and 6 are answered');
    await eventually(async () =>
      assert.match(
        await page.locator('#create-missing').innerText(),
        /^To create the workspace, answer: Question 5, Question 6\.$/,
        'the page does not name what is left',
      ),
    );
    await page.getByRole('radio', { name: 'No, my study will not center on underrepresented populations', exact: true }).check();
    await page
      .getByRole('radio', { name: 'No, I have no concerns at this time about potential stigmatization based on my study.', exact: true })
      .check();

    await expectCreateButton(false, '"Create Workspace" is still disabled on a complete form');
    await createButton().click();
  });

  await step('4. the confirm step lists the public answers; "Keep Editing" keeps them; then "Confirm"', async () => {
    await expectHeading(page, 'Create Workspace');
    for (const text of [
      'Primary purpose of your project (Question 1)',
      'Summary of research purpose (Question 2)',
      'Population of interest (Question 5)',
    ]) {
      await seen(page.getByText(text, { exact: true }), `"${text}"`);
    }
    await page.getByRole('button', { name: 'Keep Editing', exact: true }).click();
    await expectHeading(page, 'Create a new workspace');
    assert.equal(await page.getByLabel('Workspace name', { exact: true }).inputValue(), wsName, 'the workspace name was not kept');
    assert.equal(
      await page.getByRole('checkbox', { name: 'Educational Purpose', exact: true }).isChecked(),
      true,
      '"Educational Purpose" was not kept',
    );

    await expectCreateButton(false, '"Create Workspace" is disabled on the kept, complete form');
    await createButton().click();
    await expectHeading(page, 'Create Workspace');
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await expectHeading(page, wsName);
    const m = /^\/workspaces\/([^/]+)$/.exec(pathOf(page));
    assert.ok(m, `after "Confirm" the page is ${pathOf(page)}, expected /workspaces/<namespace>`);
    namespace = m[1];
    assert.equal(lastDocument(page)?.status(), 200, 'the workspace page status');
    await seen(page.getByRole('status').getByText(/^Workspace created\./), 'the "Workspace created" message');
  });

  await step('5. DATA ANALYSIS and ABOUT; SHARE with the collaborator as Reader', async () => {
    const tabs = page.getByRole('navigation', { name: 'Workspace' });
    assert.equal(
      await tabs.getByRole('link', { name: 'DATA ANALYSIS', exact: true }).getAttribute('aria-current'),
      'page',
      'the workspace does not open on "DATA ANALYSIS"',
    );
    await seen(page.getByText('A cohort is a group of participants based on specific criteria.', { exact: true }), 'the cohorts text');
    await seen(
      page.getByText('A dataset is a table containing data about a cohort that can be exported for analysis.', { exact: true }),
      'the datasets text',
    );

    await tabs.getByRole('link', { name: 'ABOUT', exact: true }).click();
    await page.waitForURL((url) => url.pathname === `/workspaces/${namespace}/about`);
    await seen(page.getByText('Controlled Tier', { exact: true }), '"Controlled Tier"');
    await seen(page.getByText('Controlled Tier Dataset v7', { exact: true }), 'the dataset "Controlled Tier Dataset v7"');
    await seen(page.getByText(/\$300\.00 left/), '"$300.00 left"');

    await page.getByRole('link', { name: 'SHARE', exact: true }).click();
    await expectHeading(page, `Share ${wsName}`);
    const searched = page.waitForResponse(
      (r) => new URL(r.url()).pathname === `/workspaces/${namespace}/share/search` && new URL(r.url()).searchParams.get('q') === collaboratorName,
    );
    await page.getByLabel('Find collaborators', { exact: true }).pressSequentially(collaboratorName, { delay: 10 });
    assert.equal((await searched).status(), 200, 'the collaborator search failed');
    // The guide: "Click the plus button and click Save".
    const plus = page.locator('#candidates').getByRole('button', { name: `Add ${collaboratorName}`, exact: true });
    await seen(plus, `a "+" button for "${collaboratorName}" in the search results`).catch(async (err) => {
      err.message += `; the results say: ${(await page.locator('#candidates').innerText()).trim() || '(nothing)'}`;
      throw err;
    });
    assert.equal((await plus.innerText()).trim(), '+', 'the add button shows "+"');
    await plus.click();
    const pending = page.locator('#collaborators').getByRole('listitem').filter({ hasText: collaborator.accountName });
    await seen(pending, `${collaborator.accountName} in the collaborators list after "+"`);
    const role = pending.getByRole('combobox', { name: `Role of ${collaboratorName}`, exact: true });
    assert.equal((await role.locator('option:checked').innerText()).trim(), 'Reader', 'a new collaborator starts as Reader');
    await seen(pending.getByText('Not saved yet', { exact: true }), '"Not saved yet" on the added row');
    await expectNoHorizontalOverflow(page);
    await page.getByRole('button', { name: 'Save', exact: true }).click();

    await seen(
      page.getByRole('status').filter({ hasText: `${collaboratorName} added as Reader` }),
      `the notice "${collaboratorName} added as Reader"`,
    );
    const member = page.getByRole('listitem').filter({ hasText: collaborator.accountName });
    await seen(member, `the collaborator ${collaborator.accountName} among the collaborators`);
    assert.equal(
      (await member.getByRole('combobox', { name: `Role of ${collaboratorName}`, exact: true }).locator('option:checked').innerText()).trim(),
      'Reader',
      "the collaborator's role after saving",
    );
    // Save again without a change: it says so.
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await seen(page.getByRole('status').filter({ hasText: 'No changes.' }), 'the notice "No changes."');
  });

  await step('5b. OWNER: the cohort count API answers over the demo dataset wb serve generated', async () => {
    // The demo CDR is generated in the background at start-up: 503 until it is attached.
    const deadline = Date.now() + 240_000;
    let answer;
    for (;;) {
      answer = await countCohort(page, namespace, T2D);
      if (answer.status !== 503 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.match(answer.body.cdr_version, /Controlled Tier Dataset|Registered Tier Dataset/);
    const total = answer.body.total;
    assert.ok(total.count > 20 && total.display === total.count.toLocaleString('en-US'), JSON.stringify(total));
    const bad = await countCohort(page, namespace, { include: [{ id: 'g', criteria: [] }] });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.errors[0].code, 'EMPTY_GROUP');
  });

  const cohortName = 'Type 2 diabetes 18-65 with HbA1c';
  await step('5c. OWNER: "Cohorts +" builds the trainee\'s cohort with live counts, survives a reload, saves it', async () => {
    const dialogs = [];
    page.on('dialog', (d) => {
      dialogs.push(d.type());
      // Leaving the builder with unsaved changes asks first: the journey stays once, then goes.
      if (d.type() === 'beforeunload' && dialogs.filter((t) => t === 'beforeunload').length === 1) d.dismiss();
      else d.accept();
    });
    await page.goto(`${base}/workspaces/${namespace}`);
    await page.getByRole('link', { name: 'Cohorts +', exact: true }).click();
    await expectHeading(page, 'New cohort');
    await seen(page.getByRole('heading', { name: 'Include Participants', exact: true }), '"Include Participants"');
    await seen(page.getByRole('heading', { name: 'Exclude Participants', exact: true }), '"Exclude Participants"');
    assert.equal(await page.getByRole('button', { name: 'Calculate' }).count(), 0, 'counts are live: no "Calculate"');
    const sectionMenu = (n) => page.locator('.builder-groups > details.add-criteria').nth(n);

    // Type 2 diabetes (with its descendants).
    await addConcept(page, sectionMenu(0), 'Conditions', 'type 2 diabetes', 'Type 2 diabetes mellitus');
    const t2d = await shownTotal(page);
    await seen(page.getByText('with descendants'), '"with descendants"');

    // Age 18–65: a second include group; the total changes.
    await sectionMenu(0).locator('summary').click();
    await sectionMenu(0).getByRole('link', { name: 'Age', exact: true }).click();
    await expectHeading(page, 'Add Criteria: Age');
    await page.getByLabel('From', { exact: true }).fill('18');
    await page.getByLabel('To', { exact: true }).fill('65');
    await page.getByRole('button', { name: 'Add Selection', exact: true }).click();
    await expectHeading(page, 'New cohort');
    await seen(page.getByText('Current Age 18–65'), 'the age criterion');
    const adults = await shownTotal(page);
    assert.notEqual(adults, t2d, 'the age group changes the total');

    // Excluding insulin.
    await addConcept(page, sectionMenu(1), 'Drugs', 'insulin', 'insulin, regular, human');
    const withoutInsulin = await shownTotal(page);

    // HbA1c ≥ 6.5 on or within 90 days of the diagnosis: a temporal group.
    await addConcept(page, sectionMenu(0), 'Labs and Measurements', 'hba1c', 'Hemoglobin A1c/Hemoglobin.total in Blood');
    const hba1c = page.locator('.group').filter({ hasText: 'Hemoglobin A1c/Hemoglobin.total in Blood' }).first();
    await hba1c.getByLabel('Value').first().selectOption({ label: 'Greater than or equal to' });
    await hba1c.getByLabel('Number', { exact: true }).fill('6.5');
    await hba1c.getByRole('button', { name: 'Apply value', exact: true }).click();
    await seen(page.getByText('value ≥ 6.5'), 'the value filter "value ≥ 6.5"');
    await page.locator('.group').filter({ hasText: 'value ≥ 6.5' }).getByLabel('Temporal').selectOption({ label: 'On or within X days of' });
    // Without X the relation is not applied yet: named at the group, the choice kept.
    await seen(page.getByRole('alert').filter({ hasText: 'Enter the number of days (X).' }), 'the missing X named');
    const days = page.locator('.group').filter({ hasText: 'value ≥ 6.5' }).getByLabel('X (days)');
    await days.fill('90');
    await days.press('Tab');
    await seen(page.getByText('(X = 90)'), '"(X = 90)"');
    await seen(page.getByRole('alert').filter({ hasText: 'needs at least one criterion' }), 'the empty second list named');
    assert.equal(await page.locator('#total-count').innerText(), '—', 'no total while the definition has a problem');
    const second = page.locator('details.add-criteria').filter({ hasText: 'Add Criteria to the second list' });
    await addConcept(page, second, 'Conditions', 'type 2 diabetes', 'Type 2 diabetes mellitus');
    const total = await shownTotal(page);
    const number = (t) => (t === '≤ 20' ? 20 : Number(t.replace(/,/g, '')));
    assert.ok(number(total) <= number(withoutInsulin), `a further include group only narrows: ${total} > ${withoutInsulin}`);
    await seen(page.locator('table.attrition'), 'the attrition group by group');
    assert.equal(await page.locator('figure.chart svg').count(), 4, 'four demographic charts');
    await expectNoSmallCounts(page, 'the builder');
    await expectNoHorizontalOverflow(page);

    // Leaving asks first (stay), and a reload mid-edit loses nothing.
    await page.getByRole('link', { name: wsName, exact: true }).click();
    await eventually(async () => assert.ok(dialogs.includes('beforeunload'), `dialogs: ${dialogs}`));
    assert.match(pathOf(page), /\/cohorts\/new$/, 'dismissing the prompt stays in the builder');
    await page.reload();
    await expectHeading(page, 'New cohort');
    await seen(page.getByText('Your unsaved changes are restored'), 'the restored draft');
    for (const text of ['Type 2 diabetes mellitus', 'Current Age 18–65', 'insulin, regular, human', 'value ≥ 6.5', '(X = 90)']) {
      await seen(page.getByText(text).first(), `"${text}" after the reload`);
    }
    assert.equal(await shownTotal(page), total, 'the same total after the reload');

    // Save Cohort: listed under Cohorts with its count.
    await page.getByLabel('Name', { exact: true }).fill(cohortName);
    await page.getByRole('button', { name: 'Save Cohort', exact: true }).click();
    await expectHeading(page, cohortName);
    await seen(page.getByRole('status').filter({ hasText: 'Cohort saved.' }), '"Cohort saved."');
    await page.getByRole('link', { name: 'Cohorts', exact: true }).click();
    const row = page.locator('table.cohort-list tr').filter({ hasText: cohortName });
    await seen(row, `"${cohortName}" listed under Cohorts`);
    assert.equal((await row.locator('td').nth(1).innerText()).trim(), total);
    await expectNoSmallCounts(page, 'the cohort list');
  });

  await step('6. the public Research Hub (not signed in) lists the workspace', async () => {
    const anonymous = await browser.newContext();
    try {
      const hub = await anonymous.newPage();
      hub.setDefaultTimeout(TIMEOUT);
      const response = await hub.goto(`${base}/research-hub`);
      assert.equal(response?.status(), 200, `GET /research-hub returned ${response?.status()}`);
      await expectHeading(hub, 'Research Hub');
      await seen(hub.getByRole('link', { name: 'Sign In', exact: true }), 'a "Sign In" link (not signed in)');
      const entry = hub.locator('article').filter({ has: hub.getByRole('heading', { name: wsName, exact: true }) });
      await seen(entry, `the workspace "${wsName}"`);
      await seen(entry.getByText(ownerName, { exact: true }), `the owner's name "${ownerName}"`);
      await seen(entry.getByText(/Educational Purpose/), '"Educational Purpose"');
    } finally {
      await anonymous.close();
    }
  });

  await step('7. COLLABORATOR: signs in without a 2-step code, sees it as Reader, cannot share it', async () => {
    await signOut(page);
    await page.goto(`${base}/sign-in`);
    await expectHeading(page, 'Sign In');
    await signIn(page, collaborator.username, collaborator.newPassword);
    await expectDataAccessRequirements(page); // straight there: no "2-Step Verification" code asked

    await page.goto(`${base}/workspaces`);
    await expectHeading(page, 'Workspaces');
    const row = page.getByRole('row').filter({ hasText: wsName });
    await seen(row, `the workspace "${wsName}" in the list`);
    await seen(row.getByRole('cell', { name: 'Reader', exact: true }), 'the role "Reader"');
    await row.getByRole('link', { name: wsName, exact: true }).click();
    await expectHeading(page, wsName);
    await page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name: 'ABOUT', exact: true }).click();
    await page.waitForURL((url) => url.pathname === `/workspaces/${namespace}/about`);
    await seen(page.getByText(collaboratorName), "the collaborator's own name among the collaborators");
    assert.equal(await page.getByRole('link', { name: 'SHARE', exact: true }).count(), 0, 'a Reader is offered "SHARE"');

    const response = await page.goto(`${base}/workspaces/${namespace}/share`);
    assert.equal(response?.status(), 403, `GET /workspaces/${namespace}/share as Reader returned ${response?.status()}`);
    await expectHeading(page, 'Not allowed');
    await page.goto(`${base}/workspaces/${namespace}`);
    const reader = await countCohort(page, namespace, T2D);
    assert.equal(reader.status, 403, `a Reader counted: ${JSON.stringify(reader.body)}`);
    // The Reader sees the saved cohort, read-only.
    assert.equal(await page.getByRole('link', { name: 'Cohorts +' }).count(), 0, 'a Reader is offered "Cohorts +"');
    await page.getByRole('link', { name: cohortName, exact: true }).click();
    await expectHeading(page, cohortName);
    await seen(page.getByText('Type 2 diabetes mellitus').first(), 'the criteria of the saved cohort');
    assert.equal(await page.getByRole('button', { name: 'Save Cohort' }).count(), 0, 'a Reader is offered "Save Cohort"');
    await expectNoSmallCounts(page, "the Reader's view");
  });

  assert.equal(broken(), null, `the workspace journey stopped at step "${broken()}"`);
});
