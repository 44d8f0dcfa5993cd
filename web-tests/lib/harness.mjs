// What every browser test file shares: a real `purser serve` on a temporary data directory,
// the fixture made through its API (`purser dev web-fixture`), Debian's Chromium, devices with
// a virtual passkey authenticator, screenshots, money as the wallet shows it.
//
// Each test file calls `startPurser()` in its `before` and `stop()` in its `after`; the files
// run one at a time (run.sh), each with its own server and data.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const BIN = process.env.PURSER_BIN;
export const CHROMIUM = process.env.PURSER_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = resolve(process.env.PURSER_SCREENSHOTS || join(import.meta.dirname, '..', '..', 'target', 'web-screenshots'));
export const PHONE = { width: 375, height: 812 };
export const DESKTOP = { width: 1280, height: 900 };

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function waitHealthy(url, ms) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch (e) { /* not up yet */ }
    if (Date.now() > until) throw new Error(`purser serve did not answer ${url}/healthz`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/// Money as the wallet shows it: ¥1,234.56.
export function yuan(minor) {
  const s = (minor / 100).toFixed(2);
  const [i, f] = s.split('.');
  return `¥${i.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${f}`;
}

/// The world one test file runs against. `fixtureArgs` go to `purser dev web-fixture`.
export async function startPurser(fixtureArgs = ['--pending', '3']) {
  assert.ok(BIN, 'PURSER_BIN names the purser binary (web-tests/run.sh sets it)');
  mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots: ${SHOTS}`);
  const data = mkdtempSync(join(tmpdir(), 'purser-web-'));
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const direct = `http://127.0.0.1:${port}`;
  const env = { ...process.env };
  delete env.PURSER_DATABASE_URL;
  delete env.PURSER_PUBLIC_URL;
  env.PURSER_LOG = env.PURSER_LOG || 'warn';
  const server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--public-url', base], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  await waitHealthy(direct, 30_000);
  const fx = JSON.parse(execFileSync(BIN, ['dev', 'web-fixture', '--server', direct, '--data', data, ...fixtureArgs], {
    encoding: 'utf8',
    env,
  }));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const cspErrors = [];
  const world = {
    base, direct, data, env, fx, browser, cspErrors,
    /// Run `purser ARGS…` against this server's data directory; its stdout.
    purser(args) {
      return execFileSync(BIN, args, { encoding: 'utf8', env });
    },
    /// GET a JSON API path with a bearer token.
    async api(path, token) {
      const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return r.json();
    },
    /// A browser context (phone or desktop) with one page carrying a virtual passkey authenticator.
    async device(viewport, extra = {}) {
      const context = await browser.newContext({ viewport, ...extra });
      const page = await context.newPage();
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
      });
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });
      return { context, page, cdp, authenticatorId };
    },
    /// A device on which `who` (fx.mei, say) has signed up with her API token and a passkey.
    async signedIn(who, viewport = PHONE, extra = {}) {
      const d = await world.device(viewport, extra);
      await d.page.goto(`${base}/signup`);
      await d.page.getByLabel('Setup token or API token').fill(who.api_token);
      await d.page.getByLabel('Name for this passkey').fill('test device');
      await d.page.getByRole('button', { name: 'Create a passkey and sign in' }).click();
      await d.page.waitForURL(`${base}/`);
      return d;
    },
    /// A device on which `who` (fx.mei, say) has signed in with their user id and PIN; `name`
    /// is the name the home page greets them with ("Hello, Mei").
    async pinSignedIn(who, name, viewport = PHONE, extra = {}) {
      const d = await world.device(viewport, extra);
      await d.page.goto(`${base}/signin`);
      await sendPin(d.page, who);
      await d.page.getByRole('heading', { name: `Hello, ${name}` }).waitFor();
      return d;
    },
    async stop() {
      await browser.close();
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      rmSync(data, { recursive: true, force: true });
    },
  };
  return world;
}

/// On the sign-in page: type `who`'s user id and `pin` (theirs unless given), and send the PIN
/// form. What comes next (home page, an error) is the caller's to wait for.
export async function sendPin(page, who, pin = who.pin) {
  await page.getByLabel('Your Purser user id').fill(who.user_id);
  await page.getByLabel('Your PIN').fill(pin);
  await page.getByRole('button', { name: 'Sign in with PIN' }).click();
}

export async function credentials(d) {
  const { credentials } = await d.cdp.send('WebAuthn.getCredentials', { authenticatorId: d.authenticatorId });
  return credentials;
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/// The page does not scroll sideways at this width.
export async function fitsWidth(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  assert.ok(scroll <= width, `the page is ${scroll}px wide in a ${width}px window`);
}
