// Sign-in and security (/account): passkeys listed and removed, the last way in kept, and
// "Sign out everywhere" ending every browser's session.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPurser, credentials, shot, fitsWidth, PHONE, DESKTOP } from '../lib/harness.mjs';

let w;
let base;
let fx;

before(async () => {
  w = await startPurser(['--pending', '0']);
  ({ base, fx } = w);
});

after(async () => {
  if (w) await w.stop();
});

test('a person without a PIN cannot remove their only passkey', async () => {
  const d = await w.device(PHONE);
  const { page } = d;
  await page.goto(`${base}/signup`);
  await page.getByLabel('Setup token or API token').fill(fx.ana.setup_token);
  await page.getByLabel('Name for this passkey').fill('Ana’s phone');
  await page.getByRole('button', { name: 'Create a passkey and sign in' }).click();
  await page.getByRole('link', { name: 'Continue to your wallet' }).click();
  await page.getByRole('link', { name: 'Ana', exact: true }).click();
  await page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
  await page.locator('#passkeys').getByText('Ana’s phone').waitFor();
  assert.ok((await page.locator('#pin-state').textContent()).includes('You have no PIN'));
  await fitsWidth(page);
  await shot(page, 'account-phone');
  await page.getByRole('button', { name: 'Remove the passkey Ana’s phone' }).click();
  await page.getByText('removing it would lock you out').waitFor();
  await page.locator('#passkeys').getByText('Ana’s phone').waitFor();
  assert.equal((await credentials(d)).length, 1);
  await d.context.close();
});

test('remove a passkey, then sign out everywhere ends every browser’s session', async () => {
  const phone = await w.signedIn(fx.mei, PHONE);
  // A second browser, signed in with the PIN.
  const desk = await w.pinSignedIn(fx.mei, 'Mei', DESKTOP);

  const { page } = phone;
  await page.goto(`${base}/account`);
  assert.equal(await page.locator('#sessions li').count(), 2, 'two browsers signed in');
  assert.ok((await page.locator('#sessions').textContent()).includes('with your PIN'));
  await page.getByRole('button', { name: 'Remove the passkey test device' }).click();
  await page.getByText('The passkey was removed').waitFor();
  assert.equal(await page.locator('#passkeys li').count(), 0);
  // Sign out everywhere, from the desktop: both browsers are signed out.
  await desk.page.goto(`${base}/account`);
  await shot(desk.page, 'account-desktop');
  await desk.page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await desk.page.waitForURL(`${base}/signin`);
  await desk.page.goto(`${base}/`);
  assert.equal(new URL(desk.page.url()).pathname, '/signin', 'this browser is signed out');
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin', 'the phone is signed out too');
  // And the removed passkey no longer signs in.
  await page.getByLabel('Your Purser user id').fill(fx.mei.user_id);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.locator('.error:not([hidden]), [role=alert]:not([hidden])').first().waitFor();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin', 'not signed in');
  await phone.context.close();
  await desk.context.close();
});

test('a setup token used elsewhere before the sign-up finishes: refused, no passkey kept', async () => {
  const made = JSON.parse(w.purser(['user', 'create', '--name', 'Bo', '--server', w.direct, '--data', w.data, '--json']));
  const setup = made.setup_token;
  assert.match(setup, /^pss_/);
  const d = await w.device(PHONE);
  const { page } = d;
  // Hold the finish until the token has been used elsewhere (by `purser user setup`'s route).
  await page.route('**/web/passkeys/register/finish', async (route) => {
    const r = await fetch(`${w.direct}/v1/setup`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ setup_token: setup }),
    });
    assert.ok(r.ok, `the token is used up elsewhere first (${r.status})`);
    await route.continue();
  });
  await page.goto(`${base}/signup`);
  await page.getByLabel('Setup token or API token').fill(setup);
  await page.getByLabel('Name for this passkey').fill('Bo’s phone');
  await page.getByRole('button', { name: 'Create a passkey and sign in' }).click();
  await page.locator('.error:not([hidden]), [role=alert]:not([hidden])').first().waitFor();
  assert.equal(new URL(page.url()).pathname, '/signup', 'not signed in');
  // The authenticator made a credential, but Purser kept none: it does not sign in.
  assert.equal((await credentials(d)).length, 1);
  await page.unroute('**/web/passkeys/register/finish');
  await page.goto(`${base}/signin`);
  await page.getByLabel('Your Purser user id').fill(made.id);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.locator('.error:not([hidden]), [role=alert]:not([hidden])').first().waitFor();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin');
  await d.context.close();
});

test('a passkey removed while its prompt is open does not sign in', async () => {
  const phone = await w.signedIn(fx.mei, PHONE);
  const desk = await w.pinSignedIn(fx.mei, 'Mei', DESKTOP);
  const { page } = phone;
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(`${base}/signin`);
  // The prompt starts with the passkey still registered; before its answer arrives, the
  // passkey is removed from the other browser.
  await page.route('**/web/passkeys/signin/finish', async (route) => {
    await desk.page.goto(`${base}/account`);
    await desk.page.getByRole('button', { name: 'Remove the passkey test device' }).click();
    await desk.page.getByText('The passkey was removed').waitFor();
    await route.continue();
  });
  await page.getByLabel('Your Purser user id').fill(fx.mei.user_id);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.locator('.error:not([hidden]), [role=alert]:not([hidden])').first().waitFor();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin', 'the removed passkey signed nobody in');
  await phone.context.close();
  await desk.context.close();
});

test('no page broke its Content-Security-Policy', () => {
  assert.deepEqual(w.cspErrors, []);
});
