// Helpers for the browser journeys in tests/e2e (run by scripts/test through `node --test`).
//
//   launch([options])                          Debian's /usr/bin/chromium via playwright-core
//   baseUrl(), outboxDir()                     WB_E2E_BASE_URL / WB_E2E_OUTBOX, set by scripts/test
//   readLatestMail(outboxDir, to, {timeoutMs}) newest .eml sent to `to`, as decoded text
//   parseMail(raw)                             { headers, text } of one .eml (exported for tests)
//   extract(text, /regex/)                     first capture group (or whole match), else throws
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
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
