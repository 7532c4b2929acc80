// Helpers for the browser journeys in tests/e2e (run by scripts/test through `node --test`).
//
//   launch([options])                          Debian's /usr/bin/chromium via playwright-core
//   baseUrl(), outboxDir()                     WB_E2E_BASE_URL / WB_E2E_OUTBOX, set by scripts/test
//   readLatestMail(outboxDir, to, {timeoutMs}) newest .eml sent to `to`, as decoded text
//   parseMail(raw)                             { headers, text } of one .eml (exported for tests)
//   extract(text, /regex/)                     first capture group (or whole match), else throws
//
// Page helpers shared by the journeys (each waits at most TIMEOUT ms and says what was expected):
//   eventually(fn), seen(locator, what), h1Text(page), expectHeading(page, text), pathOf(page)
//   trackDocuments(page), lastDocument(page)   the last main-frame document response
//   stepper(t, page, prefix)                   named sub-tests; failures leave a screenshot + HTML
//   expectNoHorizontalOverflow(page)           nothing scrolls sideways at 390×844 or 1280×800
//                                              (LAYOUT_VIEWPORTS); a failure leaves a screenshot
//                                              per viewport. expectHeading runs it once per
//                                              document of the workbench, and every step runs it
//                                              on the page it ends on.
//   newAccount({prefix, familyPrefix, ...})    fresh, run-unique details for one new account
//   createAccount(page, base, outbox, account) terms → step 1 → step 2 → confirmation → welcome mail
//   firstSignIn(page, base, account, welcome)  Complete Registration link → temporary password →
//                                              new password → Data Access Requirements
//   signIn(page, user, password), signOut(page), expectDataAccessRequirements(page)
//   totp(base32Secret, unixSeconds)            RFC 6238 code (SHA-1, 30 s, 6 digits)
//
// Access modules through the pages (each ends back on Data Access Requirements):
//   blockExternalRequests(context)             abort requests that leave loopback (provider fonts)
//   startModule(page, label), expectModuleCompleted(page, label)
//   turnOnTwoStep(page, {checkErrors})         enrol a TOTP authenticator → { secret, usedStep }
//   verifyIdentity(page, base, account, {provider})  ID.me (default) or LOGIN.GOV at the local
//                                              OIDC provider (devInteractions)
//   completeCourse(page, course)               COURSES.rt / COURSES.ct: modules, then the assessment
//   signCodeOfConduct(page, account)           initials in every box, "Accept"
//   completeAccessModules(page, base, account) all of the above in order → { secret, usedStep }
//   expectAccessComplete(page), getStarted(page)  both tiers "Granted"; "Get Started" → /home
// The admin CLI (WB_E2E_WB_BIN --config WB_E2E_CONFIG, WB_DATA_DIR = the server's data dir):
//   wbAdmin(args), trainingBank(course), bypassAccessModules(username, {modules, reason}),
//   ACCESS_MODULES                             the modules bypassed by default
import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { access, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.WB_E2E_CHROMIUM ?? '/usr/bin/chromium';

// Flags that keep Chromium quiet on a machine without network access, and runnable as root.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** Start headless Chromium. Extra `args` are appended; other options go to chromium.launch. */
export async function launch(options = {}) {
  const { args = [], ...rest } = options;
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    ...rest,
    args: [...CHROMIUM_ARGS, ...args],
  });
}

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the browser journeys through scripts/test, which starts \`wb serve\` and sets it`);
  }
  return value;
}

/** Base URL of the running `wb serve`, without a trailing slash. */
export function baseUrl() {
  return requiredEnv('WB_E2E_BASE_URL').replace(/\/+$/, '');
}

/** Folder where the running `wb serve` writes outgoing mail as .eml files. */
export function outboxDir() {
  return requiredEnv('WB_E2E_OUTBOX');
}

// ---------------------------------------------------------------------------------------------
// Mail
// ---------------------------------------------------------------------------------------------

/**
 * Poll `dir` for the newest .eml whose headers name `toAddress` (To, Cc, Bcc, Delivered-To, ...)
 * and return the decoded text of its text/plain part (HTML reduced to text when there is none).
 * Options: timeoutMs (default 15000), intervalMs (200), since (Date or ms: ignore older files).
 */
export async function readLatestMail(dir, toAddress, { timeoutMs = 15000, intervalMs = 200, since } = {}) {
  const wanted = String(toAddress).trim().toLowerCase();
  const sinceMs = since === undefined ? -Infinity : Number(since instanceof Date ? since.getTime() : since);
  const deadline = Date.now() + timeoutMs;
  let seen = [];
  for (;;) {
    seen = [];
    for (const file of await listEml(dir)) {
      if (file.mtimeMs < sinceMs) continue;
      let raw;
      try {
        raw = await readFile(file.path, 'latin1'); // bytes 1:1; decoded per part below
      } catch {
        continue; // vanished or unreadable right now
      }
      const split = splitHeaderBody(raw);
      if (!split) continue; // still being written
      const headers = parseHeaders(split.head);
      const recipients = ['to', 'cc', 'bcc', 'delivered-to', 'x-original-to', 'envelope-to', 'x-rcpt-to', 'x-envelope-to']
        .flatMap((name) => headers.getAll(name))
        .map(decodeEncodedWords);
      seen.push(`${file.name}: ${recipients.join(', ') || '(no recipient headers)'}`);
      if (recipients.some((value) => addressesIn(value).includes(wanted))) {
        return parseMail(raw).text;
      }
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  throw new Error(
    `no mail to ${toAddress} in ${dir} within ${timeoutMs} ms` +
      (seen.length ? `; newest first:\n  ${seen.slice(0, 20).join('\n  ')}` : ' (no .eml files there)'),
  );
}

/** Newest first: by modification time, then by number in the name (1.eml < 2.eml < 10.eml). */
async function listEml(dir) {
  let names;
  try {
    names = await readdir(dir);
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  const files = [];
  for (const name of names) {
    if (!name.toLowerCase().endsWith('.eml')) continue;
    const path = join(dir, name);
    try {
      const st = await stat(path);
      if (st.isFile()) files.push({ name, path, mtimeMs: st.mtimeMs });
    } catch {
      // removed between readdir and stat
    }
  }
  const num = (name) => {
    const m = /^(\d+)/.exec(name);
    return m ? Number(m[1]) : -1;
  };
  return files.sort((a, b) => b.mtimeMs - a.mtimeMs || num(b.name) - num(a.name) || b.name.localeCompare(a.name));
}

/** Lower-cased addresses in a header value: "A <a@x>, b@y" -> ["a@x", "b@y"]. */
function addressesIn(value) {
  const found = value.match(/[^\s<>,;:"()]+@[^\s<>,;:"()]+/g) ?? [];
  return found.map((a) => a.toLowerCase());
}

/** Parse one message: { headers, text } where text is the decoded text/plain body. */
export function parseMail(raw) {
  if (Buffer.isBuffer(raw)) raw = raw.toString('latin1');
  const split = splitHeaderBody(raw) ?? { head: raw, body: '' };
  const headers = parseHeaders(split.head);
  const part = findTextPart(headers, split.body);
  return { headers, text: part ?? '' };
}

function splitHeaderBody(raw) {
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return null;
  return { head: raw.slice(0, m.index), body: raw.slice(m.index + m[0].length) };
}

function parseHeaders(head) {
  const map = new Map();
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    if (!map.has(name)) map.set(name, []);
    map.get(name).push(value);
  }
  return {
    get: (name) => map.get(name.toLowerCase())?.[0],
    getAll: (name) => map.get(name.toLowerCase()) ?? [],
    entries: () => [...map.entries()],
  };
}

/** "text/plain; charset=\"utf-8\"" -> { type: "text/plain", params: { charset: "utf-8" } } */
function parseContentType(value) {
  const [type, ...rest] = (value ?? 'text/plain').split(';');
  const params = {};
  for (const piece of rest) {
    const m = /^\s*([^=\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/.exec(piece);
    if (m) params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return { type: type.trim().toLowerCase() || 'text/plain', params };
}

/** Depth-first: the first text/plain part that is not an attachment; else text/html as text. */
function findTextPart(headers, body) {
  const plain = walk(headers, body, 'text/plain');
  if (plain !== undefined) return plain;
  const html = walk(headers, body, 'text/html');
  return html === undefined ? undefined : htmlToText(html);
}

function walk(headers, body, wantedType) {
  const { type, params } = parseContentType(headers.get('content-type'));
  if (type.startsWith('multipart/')) {
    if (!params.boundary) return undefined;
    for (const part of splitMultipart(body, params.boundary)) {
      const split = splitHeaderBody(part) ?? { head: '', body: part.replace(/^\r?\n/, '') };
      const found = walk(parseHeaders(split.head), split.body, wantedType);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  const disposition = (headers.get('content-disposition') ?? '').toLowerCase();
  if (type !== wantedType || disposition.startsWith('attachment')) return undefined;
  const bytes = decodeTransfer(body, headers.get('content-transfer-encoding'));
  return decodeCharset(bytes, params.charset).replace(/\r\n/g, '\n');
}

function splitMultipart(body, boundary) {
  const delimiter = `--${boundary}`;
  const parts = [];
  let current = null;
  for (const line of body.split(/\r?\n/)) {
    const trimmed = line.replace(/[ \t]+$/, '');
    if (trimmed === `${delimiter}--`) {
      if (current) parts.push(current.join('\r\n'));
      return parts;
    }
    if (trimmed === delimiter) {
      if (current) parts.push(current.join('\r\n'));
      current = [];
      continue;
    }
    if (current) current.push(line);
  }
  if (current) parts.push(current.join('\r\n'));
  return parts;
}

/** Body (latin1 string, one char per byte) -> Buffer of the decoded bytes. */
function decodeTransfer(body, encoding) {
  switch ((encoding ?? '7bit').trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return Buffer.from(body, 'latin1');
  }
}

function decodeQuotedPrintable(body) {
  const text = body.replace(/[ \t]+(?=\r?\n)/g, '').replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

function decodeCharset(bytes, charset = 'utf-8') {
  try {
    return new TextDecoder(charset.trim().toLowerCase()).decode(bytes);
  } catch {
    return new TextDecoder('utf-8').decode(bytes);
  }
}

/** RFC 2047 encoded words in headers: =?utf-8?B?...?= and =?utf-8?Q?...?= */
function decodeEncodedWords(value) {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset, enc, data) => {
      const bytes =
        enc.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64')
          : decodeQuotedPrintable(data.replace(/_/g, ' '));
      return decodeCharset(bytes, charset);
    });
}

function htmlToText(html) {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, '')
    .replace(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, '$2 $1')
    .replace(/<br\s*\/?>|<\/(p|div|li|tr|h[1-6])>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&');
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/** First capture group of `regex` in `text` (the whole match when it has no group); throws if absent. */
export function extract(text, regex) {
  regex.lastIndex = 0;
  const m = regex.exec(text);
  if (!m) {
    const excerpt = text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
    throw new Error(`extract: ${regex} not found in:\n${excerpt}`);
  }
  return m.length > 1 && m[1] !== undefined ? m[1] : m[0];
}

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

/** How long a page helper waits for what a person should see. */
export const TIMEOUT = 10_000;

/** Where failing steps leave a screenshot and the page's HTML (gitignored). */
export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

/** Poll `fn` until it stops throwing (returns its value) or the timeout passes (rethrows). */
export async function eventually(fn, timeoutMs = TIMEOUT) {
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
export async function seen(locator, what, timeoutMs = TIMEOUT) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: timeoutMs });
  } catch (err) {
    throw new Error(`expected to see ${what}, but it did not appear within ${timeoutMs} ms (${err.message.split('\n')[0]})`);
  }
}

export async function h1Text(page) {
  return (await page.getByRole('heading', { level: 1 }).first().innerText()).trim();
}

/** Wait for the page's first <h1> to read `text`; then, on a workbench page, check its layout
 *  (expectNoHorizontalOverflow) unless this document was checked already. */
export async function expectHeading(page, text) {
  await eventually(async () => assert.equal(await h1Text(page), text, `page heading at ${page.url()}`));
  await checkLayoutOnce(page);
}

export function pathOf(page) {
  return new URL(page.url()).pathname;
}

// ---------------------------------------------------------------------------------------------
// Layout: nothing may scroll sideways, on a phone or on a desktop
// ---------------------------------------------------------------------------------------------

/** The viewports every page of the journeys is checked at: the tester's phone and a desktop. */
export const LAYOUT_VIEWPORTS = [
  { width: 390, height: 844 },
  { width: 1280, height: 800 },
];

/**
 * In the page: what sticks out sideways at the current viewport. The document may not be wider
 * than the viewport, and no rendered element may reach past either edge, unless it sits inside
 * a box that scrolls or clips sideways (a wide table in its scroll box; that box is checked
 * itself). Returns a list of problems, empty when the layout fits.
 */
function overflowProblems() {
  const root = document.documentElement;
  const width = root.clientWidth;
  const problems = [];
  if (root.scrollWidth > width) problems.push(`the document is ${root.scrollWidth} px wide`);
  const name = (el) => {
    let out = el.tagName.toLowerCase();
    if (el.id) out += `#${el.id}`;
    for (const c of el.classList) out += `.${c}`;
    const text = (el.innerText || el.value || '').trim().replace(/\s+/g, ' ');
    return text ? `${out} "${text.slice(0, 40)}"` : out;
  };
  const contained = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const offenders = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.left >= -0.5 && box.right <= width + 0.5) continue;
    if (getComputedStyle(el).visibility === 'hidden' || contained(el)) continue;
    // Report the outermost element that sticks out, not each of its descendants.
    if (offenders.some((o) => o.contains(el))) continue;
    offenders.push(el);
    const b = (n) => Math.round(n);
    problems.push(`${name(el)} spans x = ${b(box.left)}…${b(box.right)} px`);
  }
  return problems.slice(0, 8).map((p) => `${p} (viewport ${width} px)`);
}

/**
 * Check the current page at each of LAYOUT_VIEWPORTS: the document must not be wider than the
 * viewport and no element may stick out of it (see overflowProblems). The page goes back to its
 * own viewport afterwards. On failure a full-page screenshot per failing viewport goes to
 * tests/e2e/artifacts/overflow-<path>-<width>x<height>.png and the error lists what sticks out.
 */
export async function expectNoHorizontalOverflow(page) {
  const own = page.viewportSize();
  const failures = [];
  // A click just before may still be loading the next page: measure the document that is there
  // once it has loaded, and measure again if a navigation replaces it meanwhile.
  const measure = async () => {
    for (let attempt = 1; ; attempt++) {
      await page.waitForLoadState('load');
      try {
        return await page.evaluate(overflowProblems);
      } catch (err) {
        if (attempt >= 5 || !/context was destroyed|navigat/i.test(err.message)) throw err;
      }
    }
  };
  try {
    for (const viewport of LAYOUT_VIEWPORTS) {
      await page.setViewportSize(viewport);
      const problems = await measure();
      const slug = `${pathOf(page)}`.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase() || 'home';
      if (process.env.WB_E2E_SCREENSHOTS) {
        // WB_E2E_SCREENSHOTS=DIR keeps a full-page screenshot of every page at each width, to
        // look at (the first visit of a path wins; later visits are numbered).
        await mkdir(process.env.WB_E2E_SCREENSHOTS, { recursive: true });
        let n = 0, file;
        do {
          file = join(process.env.WB_E2E_SCREENSHOTS, `${slug}${n ? `-${n}` : ''}-${viewport.width}.png`);
          n += 1;
        } while (await access(file).then(() => true, () => false));
        await page.screenshot({ path: file, fullPage: true });
      }
      if (problems.length === 0) continue;
      const file = `overflow-${slug}-${viewport.width}x${viewport.height}.png`;
      let shot = `tests/e2e/artifacts/${file}`;
      try {
        await mkdir(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, file), fullPage: true });
      } catch (err) {
        shot = `no screenshot (${err.message.split('\n')[0]})`;
      }
      failures.push(`at ${viewport.width}×${viewport.height} (${shot}):\n    ${problems.join('\n    ')}`);
    }
  } finally {
    if (own) await page.setViewportSize(own);
  }
  if (failures.length) {
    throw new Error(`${page.url()} scrolls sideways ${failures.join('\n  and ')}`);
  }
}

const layoutChecks = new WeakMap();

/** expectNoHorizontalOverflow once per document of `page`, and only on workbench pages (not
 *  on the OpenID Connect provider's). */
async function checkLayoutOnce(page) {
  let state = layoutChecks.get(page);
  if (!state) {
    state = { document: 0, checked: -1 };
    layoutChecks.set(page, state);
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) state.document += 1;
    });
  }
  if (state.checked === state.document || !onWorkbench(page)) return;
  state.checked = state.document;
  await expectNoHorizontalOverflow(page);
}

/** Whether `page` shows a page of the workbench under test (WB_E2E_BASE_URL). */
export function onWorkbench(page) {
  try {
    return new URL(page.url()).origin === new URL(baseUrl()).origin;
  } catch {
    return false;
  }
}

const documents = new WeakMap();

/** Record the last main-frame document response of `page` (see lastDocument), to check the
 *  status of pages reached through redirects. */
export function trackDocuments(page) {
  if (documents.has(page)) return;
  documents.set(page, null);
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) documents.set(page, response);
  });
}

/** The last main-frame document response of a page passed to trackDocuments, else null. */
export function lastDocument(page) {
  return documents.get(page) ?? null;
}

/**
 * Named steps as sub-tests of `t`: after a failure the later steps are skipped, and the failing
 * one leaves tests/e2e/artifacts/<prefix>-<step>.png and .html and reports the browser console's
 * errors (e.g. Content-Security-Policy violations) seen during the step. A step also fails when the
 * workbench page it ends on scrolls sideways (expectNoHorizontalOverflow). Returns { step, broken } where
 * broken() is the name of the failed step, or null.
 */
export function stepper(t, page, prefix) {
  let broken = null;
  let consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  const step = (name, fn) =>
    t.test(name, { skip: broken ? `an earlier step failed: ${broken}` : false }, async () => {
      consoleErrors = [];
      try {
        await fn();
        // Whatever the step ended on (htmx may have changed it since it loaded) must fit too.
        if (onWorkbench(page) && !page.isClosed()) await expectNoHorizontalOverflow(page);
      } catch (err) {
        broken = name;
        if (consoleErrors.length) {
          err.message += `\n  browser console errors during this step:\n    ${consoleErrors.slice(-5).join('\n    ')}`;
        }
        const file = `${prefix}-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}`;
        try {
          await mkdir(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: join(ARTIFACTS, `${file}.png`), fullPage: true });
          await writeFile(join(ARTIFACTS, `${file}.html`), `<!-- ${page.url()} -->\n${await page.content()}`);
          err.message += `\n  at ${page.url()} (status ${lastDocument(page)?.status() ?? '?'}); screenshot: tests/e2e/artifacts/${file}.png`;
        } catch (shotErr) {
          err.message += `\n  (could not save a screenshot: ${shotErr.message})`;
        }
        throw err;
      }
    });
  return { step, broken: () => broken };
}

// ---------------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------------

export const INSTITUTION = 'Northfield University';
export const ROLE = 'Graduate trainee (Current student in a Masters, PhD, or Medical school training program)';
export const TERMS_CHECKBOX = 'I have read, understand, and agree to the Terms of Use and Privacy Statement.';
export const ACCOUNT_DOMAIN = 'researchworkbench.example';

/**
 * Details of a new account, unique per run: username `<prefix><digits>`, last name
 * `<familyPrefix><6 digits>`; institution Northfield University (Registered and Controlled Tier
 * by e-mail domain). `overrides` replace any field.
 */
export function newAccount({ prefix = 'e2e', familyPrefix = 'Journey', ...overrides } = {}) {
  const stamp = `${Date.now()}${String(Math.floor(Math.random() * 100)).padStart(2, '0')}`;
  const username = `${prefix}${stamp}`;
  return {
    stamp,
    username,
    accountName: `${username}@${ACCOUNT_DOMAIN}`,
    contactEmail: `${username}@northfield.example`,
    institution: INSTITUTION,
    role: ROLE,
    given: 'Ada',
    family: `${familyPrefix}${stamp.slice(-6)}`,
    street: `${stamp.slice(-4)} Lantern Lane`,
    city: 'Northfield',
    state: 'Minnesota',
    zip: '55057',
    country: 'United States',
    background: `Epidemiologist studying sleep and cardiometabolic health in wearable-device data (run ${stamp}).`,
    newPassword: 'violet harbor lantern 2931',
    ...overrides,
  };
}

/** Home page → "Create Account" → terms. With checkErrors, first tries "Next" unchecked. */
export async function acceptTerms(page, base, { checkErrors = false } = {}) {
  const home = await page.goto(`${base}/`);
  assert.equal(home?.status(), 200, `GET / returned ${home?.status()}`);
  await expectNoHorizontalOverflow(page);
  await page.getByRole('link', { name: 'Create Account', exact: true }).first().click();
  await expectHeading(page, 'Terms of Use and Privacy Statement');

  const agree = page.getByRole('checkbox', { name: TERMS_CHECKBOX, exact: true });
  assert.equal(await agree.isChecked(), false, 'the terms checkbox starts checked');
  if (checkErrors) {
    await page.getByRole('button', { name: 'Next', exact: true }).click();
    await seen(page.getByRole('alert').filter({ hasText: /check the box/i }), 'an error asking to check the box');
    await expectHeading(page, 'Terms of Use and Privacy Statement');
  }

  await page.getByRole('checkbox', { name: TERMS_CHECKBOX, exact: true }).check();
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  await expectHeading(page, 'Create your account');
  await seen(page.getByText('Step 1 of 2'), '"Step 1 of 2"');
}

/** Sign-up step 1: institution, e-mail, role. With checkErrors, first a non-matching e-mail. */
export async function fillSignupStep1(page, account, { checkErrors = false } = {}) {
  const institution = page.getByLabel('Select your institution', { exact: false });
  // Choosing the institution reloads the role list (htmx); wait for it before choosing a role.
  const rolesLoaded = page.waitForResponse((r) => new URL(r.url()).pathname === '/create-account/roles');
  await institution.selectOption({ label: account.institution });
  assert.equal((await rolesLoaded).status(), 200, 'the role list did not reload');
  const role = page.getByLabel('Which of the following best describes your role?', { exact: false });
  await eventually(async () =>
    assert.ok((await role.locator('option', { hasText: account.role }).count()) === 1, `role "${account.role}" offered`),
  );
  await sleep(100); // let htmx finish swapping and settling the new <select>

  const email = page.getByLabel('Your institutional email address', { exact: false });
  if (checkErrors) {
    await email.fill('someone@gmail.com');
    await role.selectOption({ label: account.role });
    await page.getByRole('button', { name: 'Next', exact: true }).click();

    await seen(
      page.getByRole('alert').filter({ hasText: 'does not match your institution' }),
      'an error that the e-mail "does not match your institution"',
    );
    assert.equal(await email.inputValue(), 'someone@gmail.com', 'the typed e-mail was not kept in the field');
    assert.equal(
      await institution.locator('option:checked').innerText(),
      account.institution,
      'the chosen institution was not kept',
    );
  }
  if ((await role.locator('option:checked').innerText()).trim() !== account.role) {
    await role.selectOption({ label: account.role });
  }

  await email.fill(account.contactEmail);
  await page.getByRole('button', { name: 'Next', exact: true }).click();
  await seen(page.getByText('Step 2 of 2'), '"Step 2 of 2"');
}

/**
 * Sign-up step 2: username (live check), about you, address, background; then "Submit". With
 * checkErrors, first submits a too-short username, then checks that the live check's answer
 * replaces that error instead of appearing under it.
 */
export async function fillSignupStep2(page, account, { checkErrors = false } = {}) {
  const usernameField = page.getByLabel('Username', { exact: true });
  const status = page.locator('#username-status');
  if (checkErrors) {
    await usernameField.fill('a');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await seen(status.filter({ hasText: /3 to 64 characters/ }), 'the error for the too-short username');
    assert.equal(await usernameField.getAttribute('aria-invalid'), 'true', 'the username is not marked invalid');
    assert.equal(await usernameField.inputValue(), 'a', 'the typed username was not kept');
    await usernameField.fill('');
  }
  await usernameField.pressSequentially(account.username, { delay: 10 });
  await seen(
    page.getByText(`${account.accountName} is available.`, { exact: true }),
    `the live check "${account.accountName} is available."`,
  );
  if (checkErrors) {
    const messages = (await page.locator('main').innerText()).match(/3 to 64 characters long/g) ?? [];
    assert.equal(messages.length, 0, 'the error of the failed submit is still shown under "available"');
    // htmx fires htmx:load (app.js clears the mark) when the swap settles, just after the text.
    await eventually(async () =>
      assert.equal(await usernameField.getAttribute('aria-invalid'), null, 'the username is still marked invalid'),
    );
  }

  await page.getByLabel('First name', { exact: true }).fill(account.given);
  await page.getByLabel('Last name', { exact: true }).fill(account.family);
  await page.getByLabel('Street address', { exact: true }).fill(account.street);
  await page.getByLabel('City', { exact: true }).fill(account.city);
  await page.getByLabel('State or province', { exact: true }).fill(account.state);
  await page.getByLabel('Zip or postal code', { exact: true }).fill(account.zip);
  await page.getByLabel('Country', { exact: true }).fill(account.country);
  await page.getByRole('textbox', { name: 'Research background', exact: true }).fill(account.background);
  await page
    .getByRole('group', { name: /How did you hear/ })
    .getByRole('checkbox', { name: 'Friends or colleagues', exact: true })
    .check();
  await page.getByLabel('Sex at birth', { exact: true }).selectOption({ label: 'Prefer not to answer' });

  await page.getByRole('button', { name: 'Submit', exact: true }).click();
}

/** The "Congratulations!" page after sign-up names the account and the contact e-mail. */
export async function expectSignupDone(page, account) {
  await expectHeading(page, 'Congratulations!');
  await seen(page.getByText(account.accountName, { exact: true }), `the account name ${account.accountName}`);
  await seen(page.getByText(account.contactEmail, { exact: true }), `the contact e-mail ${account.contactEmail}`);
}

/**
 * The welcome e-mail to the account's contact address: { mailedUser, tempPassword,
 * registrationUrl }, checked to name the account and link to `base`.
 */
export async function readWelcomeMail(outbox, account, base) {
  const mail = await readLatestMail(outbox, account.contactEmail, { timeoutMs: 15_000 });
  const mailedUser = extract(mail, /^Your Username: *(\S+) *$/m);
  const tempPassword = extract(mail, /^Your Temporary Password: *(.+?) *$/m);
  const registrationUrl = extract(mail, /Complete Registration: *(\S+)/);
  assert.ok(
    mailedUser === account.username || mailedUser === account.accountName,
    `the e-mail names username ${mailedUser}, expected ${account.username} or ${account.accountName}`,
  );
  assert.ok(tempPassword.length > 0, 'empty temporary password in the e-mail');
  assert.ok(registrationUrl.startsWith(base), `Complete Registration link ${registrationUrl} is not on ${base}`);
  return { mailedUser, tempPassword, registrationUrl };
}

/**
 * Create `account` through the pages (terms, both sign-up steps, confirmation) and return its
 * welcome mail (readWelcomeMail). checkErrors also walks through the pages' error messages.
 */
export async function createAccount(page, base, outbox, account, { checkErrors = false } = {}) {
  await acceptTerms(page, base, { checkErrors });
  await fillSignupStep1(page, account, { checkErrors });
  await fillSignupStep2(page, account);
  await expectSignupDone(page, account);
  return readWelcomeMail(outbox, account, base);
}

/** Open the e-mail's Complete Registration link; sign in there with the temporary password. */
export async function signInFromWelcomeMail(page, account, welcome) {
  const response = await page.goto(welcome.registrationUrl);
  assert.equal(response?.status(), 200, `GET ${welcome.registrationUrl} ended with ${response?.status()}`);
  await expectHeading(page, 'Sign In');
  const prefilled = await page.getByLabel('Username', { exact: true }).inputValue();
  assert.ok(
    [welcome.mailedUser, account.username, account.accountName].includes(prefilled),
    `username field holds "${prefilled}", expected ${welcome.mailedUser}`,
  );
  await page.getByLabel('Password', { exact: true }).fill(welcome.tempPassword);
  await page.getByRole('button', { name: 'Sign In', exact: true }).click();
}

/** "Change Your Password": set account.newPassword (checkErrors: a too-short one first). */
export async function changeFirstPassword(page, account, { checkErrors = false } = {}) {
  await expectHeading(page, 'Change Your Password');
  if (checkErrors) {
    await page.getByLabel('New password', { exact: true }).fill('short pass');
    await page.getByLabel('Confirm new password', { exact: true }).fill('short pass');
    await page.getByRole('button', { name: 'Enter', exact: true }).click();
    await seen(
      page.getByRole('alert').filter({ hasText: 'at least 15 characters' }),
      'an error mentioning "at least 15 characters"',
    );
    await expectHeading(page, 'Change Your Password');
  }
  await page.getByLabel('New password', { exact: true }).fill(account.newPassword);
  await page.getByLabel('Confirm new password', { exact: true }).fill(account.newPassword);
  await page.getByRole('button', { name: 'Enter', exact: true }).click();
}

/** First sign-in: welcome-mail link, temporary password, new password → Data Access Requirements. */
export async function firstSignIn(page, base, account, welcome, { checkErrors = false } = {}) {
  await signInFromWelcomeMail(page, account, welcome);
  await changeFirstPassword(page, account, { checkErrors });
  await expectDataAccessRequirements(page);
}

/** Fill the "Sign In" form and submit it. */
export async function signIn(page, user, password) {
  await page.getByLabel('Username', { exact: true }).fill(user);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign In', exact: true }).click();
}

/** "Sign Out", then check that the page offers "Sign In" and no longer "Sign Out". */
export async function signOut(page) {
  await page.getByRole('button', { name: 'Sign Out', exact: true }).click();
  await seen(page.getByRole('link', { name: 'Sign In', exact: true }), 'a "Sign In" link after signing out');
  await expectNoHorizontalOverflow(page);
  assert.equal(
    await page.getByRole('button', { name: 'Sign Out', exact: true }).count(),
    0,
    'the "Sign Out" button is still shown after signing out',
  );
}

/** The item of the Data Access Requirements list whose label is `label`. */
export function moduleItem(page, label) {
  return page.getByRole('listitem').filter({ has: page.getByText(label, { exact: true }) });
}

/**
 * Wait for "Data Access Requirements" (HTTP 200, as the last document when the page was tracked
 * with trackDocuments) listing the three registration modules.
 */
export async function expectDataAccessRequirements(page) {
  await page.waitForURL((url) => url.pathname === '/data-access-requirements', { timeout: TIMEOUT });
  await page.waitForLoadState('load');
  const last = lastDocument(page);
  if (last) {
    assert.equal(new URL(last.url()).pathname, '/data-access-requirements', 'last document response');
    assert.equal(last.status(), 200, `GET /data-access-requirements returned ${last.status()}`);
  }
  await expectHeading(page, 'Data Access Requirements');
  for (const module of [
    'Turn on 2-Step Verification',
    'Verify your identity',
    'Complete Responsible Conduct of Research Training',
  ]) {
    await seen(moduleItem(page, module), `the requirement "${module}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// 2-step verification
// ---------------------------------------------------------------------------------------------

/** RFC 4648 base32 (case, spaces and padding ignored) → bytes. */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = String(text).toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of clean) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`base32Decode: "${c}" is not a base32 character`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 time step of `unixSeconds` (30-second steps from 0). */
export function totpStep(unixSeconds = Date.now() / 1000) {
  return Math.floor(unixSeconds / 30);
}

/**
 * RFC 6238 TOTP with HMAC-SHA-1: the 6-digit code of `base32Secret` at `unixSeconds` (default
 * now): HMAC over the 8-byte big-endian time step, dynamic truncation (RFC 4226), mod 10^6.
 */
export function totp(base32Secret, unixSeconds = Date.now() / 1000, { digits = 6 } = {}) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(totpStep(unixSeconds)));
  const mac = createHmac('sha1', base32Decode(base32Secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

// ---------------------------------------------------------------------------------------------
// The admin CLI, as an administrator runs it next to the server
// ---------------------------------------------------------------------------------------------

const execFileAsync = promisify(execFile);

/**
 * Run `WB_E2E_WB_BIN --config WB_E2E_CONFIG admin <args...>` against the running server's data
 * (WB_DATA_DIR = the folder holding WB_E2E_OUTBOX) and return its stdout.
 */
export async function wbAdmin(args) {
  return wb(['admin', ...args]);
}

/** Run `WB_E2E_WB_BIN --config WB_E2E_CONFIG <args...>` against the running server's data. */
export async function wb(args) {
  const bin = requiredEnv('WB_E2E_WB_BIN');
  const config = requiredEnv('WB_E2E_CONFIG');
  try {
    const { stdout } = await execFileAsync(bin, ['--config', config, ...args], {
      env: { ...process.env, WB_DATA_DIR: dirname(outboxDir()) },
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    throw new Error(`wb ${args.join(' ')} failed (exit ${err.code}): ${String(err.stderr ?? err.message).trim()}`);
  }
}

/** The question bank of `course` ("rt" or "ct") with the correct answers, by question id. */
export async function trainingBank(course) {
  const bank = JSON.parse(await wbAdmin(['training-bank', '--course', course, '--json']));
  assert.ok(Array.isArray(bank) && bank.length > 0, `training-bank --course ${course} printed no questions`);
  return new Map(bank.map((q) => [q.id, q]));
}

/** The access modules an administrator can bypass for full (Controlled Tier) access. */
export const ACCESS_MODULES = ['two_factor', 'identity', 'rt_training', 'ct_training', 'code_of_conduct'];

/** `wb admin user bypass <username> --module <m> --reason <reason>` for each module. */
export async function bypassAccessModules(username, { modules = ACCESS_MODULES, reason = 'browser journey' } = {}) {
  for (const module of modules) {
    await wbAdmin(['user', 'bypass', username, '--module', module, '--reason', reason]);
  }
}

// ---------------------------------------------------------------------------------------------
// Access modules through the pages
// ---------------------------------------------------------------------------------------------

/** Abort every request of `context` that leaves loopback (the provider's pages @import a font). */
export async function blockExternalRequests(context) {
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/])/, (route) => route.abort());
}

/** On Data Access Requirements, click "Start" in the item `label`. */
export async function startModule(page, label) {
  await expectDataAccessRequirements(page);
  const link = moduleItem(page, label).getByRole('link', { name: 'Start', exact: true });
  await seen(link, `a "Start" link in "${label}"`);
  await link.click();
}

/** Data Access Requirements shows "Completed on:" in the item `label`. */
export async function expectModuleCompleted(page, label) {
  await expectDataAccessRequirements(page);
  await seen(moduleItem(page, label).getByText(/Completed on:/), `"Completed on:" in "${label}"`);
}

/**
 * "Turn on 2-Step Verification": read the key under the QR code, enter its current code (with
 * checkErrors, a wrong code first), note the recovery codes, "Continue". Returns { secret,
 * usedStep }: the key and the TOTP time step whose code was used (codes are single-use).
 */
export async function turnOnTwoStep(page, { checkErrors = false } = {}) {
  const label = 'Turn on 2-Step Verification';
  await startModule(page, label);
  await expectHeading(page, '2-Step Verification');
  await seen(page.locator('.qr svg, svg'), 'a QR code (an <svg>)');
  let secret = (await page.locator('#totp-secret').innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{2,8}( [A-Z2-7]{1,8})+$/, `the key "${secret}" is not base32 grouped with spaces`);

  if (checkErrors) {
    const now = Date.now() / 1000;
    const nearby = [-30, 0, 30].map((d) => totp(secret, now + d));
    const wrong = ['000000', '111111', '222222'].find((c) => !nearby.includes(c));
    await page.getByLabel('6-digit code', { exact: true }).fill(wrong);
    await page.getByRole('button', { name: label, exact: true }).click();
    await seen(page.getByRole('alert'), `an error for the wrong code ${wrong}`);
    await expectHeading(page, '2-Step Verification');
    secret = (await page.locator('#totp-secret').innerText()).trim();
  }

  const at = Date.now() / 1000;
  await page.getByLabel('6-digit code', { exact: true }).fill(totp(secret, at));
  const usedStep = totpStep(at);
  await page.getByRole('button', { name: label, exact: true }).click();
  await seen(page.locator('#recovery-codes'), 'the recovery codes (#recovery-codes)');
  assert.ok((await page.locator('#recovery-codes li').count()) > 0, 'no recovery codes listed');
  await page.getByRole('link', { name: 'Continue', exact: true }).click();
  await expectModuleCompleted(page, label);
  return { secret, usedStep };
}

/**
 * "Verify your identity" with `provider` ("ID.me" or "LOGIN.GOV") at the local OIDC provider:
 * its devInteractions login form (any login, any password), then its consent page. Expects a
 * browser context that has not signed in at the provider yet (the provider remembers its session
 * and would skip the login form).
 */
export async function verifyIdentity(page, base, account, { provider = 'ID.me' } = {}) {
  const label = 'Verify your identity';
  await startModule(page, label);
  await expectHeading(page, 'Verify your identity');
  await seen(page.getByRole('button', { name: 'LOGIN.GOV', exact: true }), 'the provider "LOGIN.GOV"');
  await seen(page.getByRole('button', { name: 'ID.me', exact: true }), 'the provider "ID.me"');
  await page.getByRole('button', { name: provider, exact: true }).click();

  await page.waitForURL((url) => url.origin !== base && url.pathname.startsWith('/interaction/'), { timeout: TIMEOUT });
  await expectHeading(page, 'Sign-in');
  await page.locator('input[name="login"]').fill(`idp-${account.username}`);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in', exact: true }).click();
  await expectHeading(page, 'Authorize');
  await page.getByRole('button', { name: 'Continue', exact: true }).click();
  await expectModuleCompleted(page, label);
}

/** The two courses: key (URL and `training-bank --course`), requirement label, page title. */
export const COURSES = {
  rt: { key: 'rt', label: 'Complete Responsible Conduct of Research Training', title: 'Responsible Conduct of Research' },
  ct: { key: 'ct', label: 'Complete Controlled Tier Training', title: 'Controlled Tier Training' },
};

/**
 * One course (COURSES.rt or COURSES.ct): the policy states the fresh draw, 3 attempts in any
 * 24 hours and the retake at once (scripts/test's configuration); every module
 * page "Mark as read and continue"; the assessment answered from `wb admin training-bank`;
 * "Congratulations, you passed." → back on Data Access Requirements, completed.
 */
export async function completeCourse(page, { key, label, title }) {
  await startModule(page, label);
  await page.waitForURL((url) => url.pathname === `/training/${key}`);
  await expectHeading(page, title);
  const policy = page.locator('#policy');
  await seen(policy, 'the assessment policy (#policy)');
  assert.match(
    await policy.innerText(),
    /drawn afresh for each attempt\..*at most 3 attempts in any 24 hours, and after a failed attempt you can retake it immediately\./s,
    'the policy does not state the fresh draw, the 3 attempts in 24 hours and the retake at once',
  );

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
  assert.equal(pathOf(page), `/training/${key}`, 'after the last module the course page should show');
  await expectHeading(page, title);

  const bank = await trainingBank(key);
  await page.getByRole('button', { name: 'Start the assessment', exact: true }).click();
  await expectHeading(page, `${title}: assessment`);
  const fieldsets = page.locator('fieldset');
  await seen(fieldsets, 'the assessment questions');
  const count = await fieldsets.count();
  for (let i = 0; i < count; i++) {
    const name = await fieldsets.nth(i).locator('input[type="radio"]').first().getAttribute('name');
    const question = bank.get(name?.replace(/^q_/, ''));
    assert.ok(question, `question ${name} on the page is not in the ${key} bank`);
    await fieldsets.nth(i).locator(`input[type="radio"][name="${name}"][value="${question.correct}"]`).check();
  }
  await page.getByRole('button', { name: 'Submit answers', exact: true }).click();
  await seen(page.getByText('Congratulations, you passed.'), '"Congratulations, you passed."');
  // The printable certificate: a "Print certificate" button (script), one printed page.
  await page.getByRole('link', { name: 'View certificate', exact: true }).click();
  await expectHeading(page, 'Certificate of completion');
  await seen(page.getByRole('button', { name: 'Print certificate', exact: true }), '"Print certificate"');
  assert.equal((await page.locator('#certificate-course').innerText()).trim(), title, 'the course on the certificate');
  const pdf = (await page.pdf({ format: 'Letter' })).toString('latin1');
  const printed = (pdf.match(/\/Type\s*\/Page(?!s)/g) ?? []).length;
  assert.equal(printed, 1, `the certificate prints on ${printed} pages`);
  await page.getByRole('link', { name: 'Continue to Researcher Workbench', exact: true }).click();
  await expectModuleCompleted(page, label);
}

/** "Sign Data User Code of Conduct": "Proceed", the full name shown, initials in every box, "Accept". */
export async function signCodeOfConduct(page, account) {
  const label = 'Sign Data User Code of Conduct';
  const fullName = `${account.given} ${account.family}`;
  const initials = `${account.given[0]}${account.family[0]}`.toUpperCase();
  await startModule(page, label);
  await page.getByRole('link', { name: 'Proceed', exact: true }).click();
  await expectHeading(page, 'Accept Data User Code of Conduct');
  await seen(page.getByText(fullName, { exact: true }), `the full name "${fullName}"`);
  const boxes = await page.getByLabel('Initials', { exact: true }).all();
  assert.ok(boxes.length > 0, 'no boxes labelled "Initials"');
  for (const box of boxes) await box.fill(initials);
  await page.getByRole('button', { name: 'Accept', exact: true }).click();
  await expectModuleCompleted(page, label);
}

/**
 * From Data Access Requirements, every module through the pages: 2-step verification, identity
 * (ID.me), both courses, the code of conduct. Returns turnOnTwoStep's { secret, usedStep }.
 */
export async function completeAccessModules(page, base, account) {
  const twoStep = await turnOnTwoStep(page);
  await verifyIdentity(page, base, account);
  await completeCourse(page, COURSES.rt);
  await completeCourse(page, COURSES.ct);
  await signCodeOfConduct(page, account);
  return twoStep;
}

/** Data Access Requirements says access is complete, with both tiers "Granted". */
export async function expectAccessComplete(page) {
  await expectDataAccessRequirements(page);
  await seen(page.getByText('Thank you for completing all the necessary steps'), '"Thank you for completing all the necessary steps"');
  await seen(page.getByText('Researcher Workbench data access is complete'), '"Researcher Workbench data access is complete"');
  for (const tier of ['Registered Tier data', 'Controlled Tier data']) {
    await seen(page.locator('.tier').filter({ hasText: tier }).getByText(/Granted/), `"Granted" for ${tier}`);
  }
}

/** "Get Started" on Data Access Requirements → the workbench home. */
export async function getStarted(page) {
  await page.getByRole('link', { name: 'Get Started', exact: true }).click();
  await page.waitForURL((url) => url.pathname === '/home');
  await expectHeading(page, 'RESEARCHER WORKBENCH');
}
