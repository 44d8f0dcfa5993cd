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
  await page.getByRole('link', { name: 'Ana' }).click();
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
  const desk = await w.device(DESKTOP);
  await desk.page.goto(`${base}/signin`);
  await desk.page.getByLabel('Your Purser user id').fill(fx.mei.user_id);
  await desk.page.getByLabel('Your PIN').fill(fx.mei.pin);
  await desk.page.getByRole('button', { name: 'Sign in with PIN' }).click();
  await desk.page.getByRole('heading', { name: 'Hello, Mei' }).waitFor();

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
  await page.locator('[role=alert], .error').first().waitFor();
  await page.goto(`${base}/`);
  assert.equal(new URL(page.url()).pathname, '/signin', 'not signed in');
  await phone.context.close();
  await desk.context.close();
});

test('no page broke its Content-Security-Policy', () => {
  assert.deepEqual(w.cspErrors, []);
});
