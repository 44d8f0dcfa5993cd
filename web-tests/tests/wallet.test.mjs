// The web wallet in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core, against a real `purser serve` on a temporary data directory. Passkeys use
// Chrome DevTools Protocol virtual authenticators (WebAuthn.addVirtualAuthenticator). The
// starting point (people, money, an agent bound with a mandate, payments waiting for
// confirmation) is made through the real API by `purser dev web-fixture`.
//
// Screenshots of every page land in target/web-screenshots (printed at the start).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPurser, credentials, sendPin, shot, fitsWidth, yuan, PHONE, DESKTOP } from '../lib/harness.mjs';

let w;
let base;
let fx;
const device = (...a) => w.device(...a);
const api = (...a) => w.api(...a);

before(async () => {
  w = await startPurser(['--pending', '3']);
  ({ base, fx } = w);
});

after(async () => {
  if (w) await w.stop();
});

test('a new person signs up with their setup token and a passkey, then signs in with it', async () => {
  const d = await device(PHONE);
  const { page } = d;
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin', 'Home sends a stranger to sign in');
  await page.goto(`${base}/signup`);
  await shot(page, 'signup-phone');
  await page.getByLabel('Setup token or API token').fill(fx.ana.setup_token);
  await page.getByLabel('Name for this passkey').fill('Ana’s phone');
  await page.getByRole('button', { name: 'Create a passkey and sign in' }).click();
  const once = page.locator('#api-token');
  await once.waitFor({ state: 'visible' });
  const token = await once.locator('[data-api-token]').textContent();
  assert.match(token, /^pst_/, 'the setup token became an API token, shown once');
  assert.equal((await credentials(d)).length, 1, 'one passkey on the authenticator');
  await page.getByRole('link', { name: 'Continue to your wallet' }).click();
  await page.getByRole('heading', { name: 'Hello, Ana' }).waitFor();

  // The same setup token cannot be used twice.
  const again = await page.evaluate(async (t) => {
    const csrf = document.querySelector('meta[name="purser-csrf"]').content;
    const r = await fetch('/web/passkeys/register/start', {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-purser-csrf': csrf }, body: JSON.stringify({ token: t }),
    });
    return { status: r.status, body: await r.json() };
  }, fx.ana.setup_token);
  assert.equal(again.status, 401);
  assert.equal(again.body.code, 'setup_token_invalid');

  // Sign out, then back in with the passkey (the user id is remembered on this browser).
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/signin`);
  assert.equal(await page.getByLabel('Your Purser user id').inputValue(), fx.ana.user_id);
  assert.equal((await page.goto(`${base}/`)) && new URL(page.url()).pathname, '/signin', 'signed out means signed out');
  await shot(page, 'signin-phone');
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.getByRole('heading', { name: 'Hello, Ana' }).waitFor();
  await fitsWidth(page);
  await d.context.close();
});

test('a request without the page’s CSRF token is refused', async () => {
  const r = await fetch(`${base}/web/passkeys/signin/start`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: fx.mei.user_id }),
  });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).code, 'csrf_failed');
  const p = await fetch(`${base}/signin/pin`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `user_id=${fx.mei.user_id}&pin=${fx.mei.pin}`,
  });
  assert.equal(p.status, 403);
  assert.equal(p.headers.get('set-cookie')?.includes('purser-session=pws_') ?? false, false, 'no session without CSRF');
});

let mei;

test('Home shows the pending confirmations, balances, agent card, agents at work and spending', async () => {
  mei = await device(DESKTOP);
  const { page } = mei;
  // First sign-in on this browser with the API token she already uses.
  await page.goto(`${base}/signup`);
  await page.getByLabel('Setup token or API token').fill(fx.mei.api_token);
  await page.getByLabel('Name for this passkey').fill('Mei’s phone');
  await page.getByRole('button', { name: 'Create a passkey and sign in' }).click();
  await page.getByRole('heading', { name: 'Hello, Mei' }).waitFor();
  const resp = await page.goto(`${base}/`);
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);

  const pending = page.locator('#pending li');
  assert.equal(await pending.count(), fx.pending.length);
  for (const p of fx.pending) {
    await page.locator(`#pending a[href="${p.path}"]`).waitFor();
    assert.ok((await page.locator('#pending').textContent()).includes(yuan(p.amount)), yuan(p.amount));
  }
  const held = fx.pending.reduce((s, p) => s + p.amount, 0);
  const balances = await page.locator('#balances').textContent();
  // ¥3,000.00 topped up, ¥500.00 moved to the agent's card, the pending payments held.
  assert.ok(balances.includes(yuan(300_000 - 50_000 - held)), balances);
  assert.ok(balances.includes(yuan(held)), balances);
  assert.ok((await page.locator('#agent-cards').textContent()).includes('¥500.00'));
  assert.ok((await page.locator('#at-work').textContent()).includes('Trail Scout'));
  assert.equal(await page.locator('#recent tbody tr').count(), fx.pending.length);
  await shot(page, 'home-desktop');
  await page.setViewportSize(PHONE);
  await fitsWidth(page);
  await shot(page, 'home-phone');
  // Keyboard: the first pending link is reachable with Tab.
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate((href) => document.activeElement?.getAttribute('href') === href, fx.pending[0].path);
  }
  assert.ok(reached, 'the first “Review and answer” link is reachable by keyboard');
});

test('approve a pending payment from its link with a passkey on a 375-px phone', async () => {
  const { page } = mei;
  const p = fx.pending[0];
  await page.setViewportSize(PHONE);
  await page.goto(`${base}${p.path}`);
  await page.getByRole('heading', { name: 'Confirm this payment' }).waitFor();
  const text = await page.locator('main').textContent();
  for (const shown of [yuan(p.amount), p.title, 'Trailhead Outfitters', 'Trail Scout', 'Trailhead Labs', 'In your words', 'under 800 yuan', 'If you approve', 'single-use credential']) {
    assert.ok(text.includes(shown), `${shown} missing`);
  }
  await fitsWidth(page);
  await shot(page, 'confirm-phone');
  await page.locator('#passkey-answer').getByRole('button', { name: `Approve ${yuan(p.amount)}` }).click();
  await page.waitForURL(/answered=1/);
  await page.getByText(`Approved — the agent can now pay ${yuan(p.amount)}.`).waitFor();
  await shot(page, 'confirm-approved-phone');
  const seen = await api(`/v1/payments/${p.payment_id}`, fx.mei.api_token);
  assert.equal(seen.status, 'approved');
});

test('decline another with a passkey', async () => {
  const { page } = mei;
  const p = fx.pending[1];
  await page.goto(`${base}${p.path}`);
  await page.locator('#passkey-answer').getByRole('button', { name: 'Decline' }).click();
  await page.waitForURL(/answered=1/);
  await page.getByText('Declined — the agent cannot make this payment.').waitFor();
  await shot(page, 'confirm-declined-phone');
  const seen = await api(`/v1/payments/${p.payment_id}`, fx.mei.api_token);
  assert.equal(seen.status, 'declined');
});

test('a used link says what became of it, an unknown one says it does not work', async () => {
  const { page } = mei;
  await page.goto(`${base}${fx.pending[0].path}`);
  await page.getByRole('heading', { name: 'Already approved' }).waitFor();
  assert.equal(await page.locator('form#pin-answer, form#passkey-answer').count(), 0, 'no way to answer twice');
  await shot(page, 'confirm-used-phone');
  const broken = await page.goto(`${base}${fx.pending[0].path.slice(0, -4)}AAAA`);
  assert.equal(broken.status(), 404);
  await page.getByRole('heading', { name: 'This link does not work' }).waitFor();
  assert.ok(!(await page.content()).includes('"code"'), 'a page, not JSON');
  await shot(page, 'confirm-broken-phone');
  // Home now waits only for the last one.
  await page.goto(`${base}/`);
  assert.equal(await page.locator('#pending li').count(), fx.pending.length - 2);
  await page.locator(`#pending a[href="${fx.pending[2].path}"]`).waitFor();
});

test('the pages switch to Simplified Chinese by the browser language or a link', async () => {
  const d = await device(PHONE, { locale: 'zh-CN', extraHTTPHeaders: { 'accept-language': 'zh-CN,zh;q=0.9' } });
  const { page } = d;
  await page.goto(`${base}/signin`);
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-Hans');
  await page.getByRole('heading', { name: '登录 Purser' }).waitFor();
  await page.goto(`${base}${fx.pending[2].path}`);
  await page.getByRole('heading', { name: '确认这笔付款' }).waitFor();
  await shot(page, 'confirm-zh-phone');
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Confirm this payment' }).waitFor();
  await page.goto(`${base}/signin`);
  await page.getByRole('heading', { name: 'Sign in to Purser' }).waitFor();
  await d.context.close();
});

test('PIN sign-in works, and five wrong PINs lock it', async () => {
  const d = await w.pinSignedIn(fx.mei, 'Mei', PHONE);
  const { page } = d;
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/signin`);
  const wrong = '913572';
  for (const left of [4, 3, 2, 1]) {
    await sendPin(page, fx.mei, wrong);
    await page.getByText(`${left} more wrong`).waitFor();
    assert.equal(await page.getAttribute('#pin', 'aria-invalid'), 'true', 'the error is tied to the field');
  }
  await page.getByLabel('Your PIN').fill(wrong);
  await page.getByRole('button', { name: 'Sign in with PIN' }).click();
  await page.getByText('locked until').waitFor();
  // Now even the right PIN is refused.
  await page.getByLabel('Your PIN').fill(fx.mei.pin);
  await page.getByRole('button', { name: 'Sign in with PIN' }).click();
  await page.getByText('PIN entry is locked').waitFor();
  assert.equal(new URL(page.url()).pathname, '/signin/pin');
  await shot(page, 'signin-locked-phone');
  const r = await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin', `not signed in (${r.status()})`);
  await d.context.close();
});

test('no page broke its Content-Security-Policy', () => {
  assert.deepEqual(w.cspErrors, []);
});
