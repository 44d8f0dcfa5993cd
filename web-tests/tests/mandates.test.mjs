// The Mandates pages in a real browser: words → proposal → adjust → consent with a passkey →
// the list (said once, never in the URL); revoke; words Purser cannot use; the proposal sent
// twice storing one draft; a 375-px phone and Chinese headings. The agent's
// payments go through `purser dev agent pay` (signed requests, the real API).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPurser, shot, fitsWidth, yuan, PHONE } from '../lib/harness.mjs';

let w;
let base;
let fx;
let mei;
let mandateId;

const WORDS = 'Buy running shoes under 600 yuan at Trailhead Outfitters, ask me above 300';

before(async () => {
  w = await startPurser(['--pending', '0']);
  ({ base, fx } = w);
  mei = await w.signedIn(fx.mei, PHONE);
});

after(async () => {
  if (w) await w.stop();
});

/// The agent asks to pay under a mandate; Purser's answer.
function pay(mandate, amount, task) {
  const out = w.purser([
    'dev', 'agent', 'pay',
    '--server', w.direct,
    '--key', fx.agent.key_file,
    '--user', fx.mei.user_id,
    '--mandate', mandate,
    '--merchant', fx.merchant_id,
    '--task', task,
    '--title', 'running shoes',
    '--amount', String(amount),
  ]);
  return JSON.parse(out);
}

async function mandates() {
  return (await w.api('/v1/mandates', fx.mei.api_token)).data;
}

test('Mei writes what she wants, adjusts the budget and consents with her passkey', async () => {
  const { page } = mei;
  const before = (await mandates()).length;
  await page.goto(`${base}/mandates/new`);
  await fitsWidth(page);
  await shot(page, 'mandates-new-phone');
  await page.getByLabel('What do you want your agent to do?').fill(WORDS);
  await page.getByLabel('Which agent').selectOption({ label: 'Trail Scout' });
  await page.getByRole('button', { name: 'Show me the proposal' }).click();

  // The proposal: the fields as drafted and the summary of what Trail Scout may do.
  await page.getByRole('heading', { name: 'Your proposal' }).waitFor();
  assert.equal(await page.getByLabel('Only at these merchants').inputValue(), 'Trailhead Outfitters');
  assert.equal(await page.getByLabel('Limit for one payment (CNY)').inputValue(), '599.99');
  assert.equal(await page.getByLabel('Ask me before paying more than (CNY)').inputValue(), '300.00');
  const summary = await page.locator('#summary').textContent();
  assert.match(summary, /Trailhead Outfitters/);
  assert.match(summary, /at most ¥599\.99 per payment/);
  assert.match(summary, /pays automatically at or below ¥300\.00/);
  const willNot = await page.locator('#will-not').textContent();
  assert.match(willNot, /Trail Scout cannot buy from any other merchant/);
  assert.equal(await page.getByLabel('Budget in all (CNY)').inputValue(), '', 'no budget said yet');
  await fitsWidth(page);
  await shot(page, 'mandates-proposal-phone');

  // A bad amount is named next to its field, and nothing is stored.
  await page.getByLabel('Budget in all (CNY)').fill('lots');
  await page.getByRole('button', { name: 'Update the summary' }).click();
  await page.locator('#budget-error').waitFor();
  assert.match(await page.locator('#budget-error').textContent(), /Write an amount like 600/);
  assert.equal(await page.getByLabel('Budget in all (CNY)').getAttribute('aria-invalid'), 'true');

  // Adjust: a budget of ¥800; the summary is made again.
  await page.getByLabel('Budget in all (CNY)').fill('800');
  await page.getByRole('button', { name: 'Update the summary' }).click();
  await page.locator('#summary', { hasText: 'a total budget of ¥800.00' }).waitFor();
  assert.match(await page.locator('#will-not').textContent(), /cannot spend more than ¥800\.00 in all/);
  assert.equal((await mandates()).length, before, 'drafting and adjusting store nothing');

  // Changing a field without updating the summary: Purser will not store it unread.
  await page.getByLabel('Budget in all (CNY)').fill('900');
  await page.getByRole('button', { name: 'Continue to consent' }).click();
  await page.locator('#summary', { hasText: 'a total budget of ¥900.00' }).waitFor();
  assert.equal((await mandates()).length, before, 'a proposal not read is not stored');
  await page.getByLabel('Budget in all (CNY)').fill('800');
  await page.getByRole('button', { name: 'Update the summary' }).click();
  await page.locator('#summary', { hasText: 'a total budget of ¥800.00' }).waitFor();

  // Continue: the draft is stored and its consent page shows the same summary and its hash.
  await page.getByRole('button', { name: 'Continue to consent' }).click();
  await page.getByRole('heading', { name: 'Consent to this mandate' }).waitFor();
  mandateId = new URL(page.url()).pathname.split('/')[2];
  assert.match(mandateId, /^mdt_/);
  const stored = (await mandates()).find((m) => m.id === mandateId);
  assert.equal(stored.status, 'draft');
  assert.equal(stored.mandate.how_much.budget.minor, 80_000);
  assert.equal(stored.mandate.provenance.user_words, WORDS);
  assert.equal(await page.locator('#content-hash').textContent(), stored.content_hash);
  assert.match(await page.locator('#summary').textContent(), /a total budget of ¥800\.00/);
  await fitsWidth(page);
  await page.getByRole('button', { name: 'Consent with my passkey' }).click();

  // The list: active, the whole adjusted budget remaining; it says so once, not in the URL.
  await page.waitForURL(`${base}/mandates`);
  await page.locator('#done').getByText('You consented: the mandate is active, and your agent can pay within it.').waitFor();
  const item = page.locator(`#mandate-${mandateId}`);
  await item.waitFor();
  assert.equal(await item.getAttribute('data-status'), 'active');
  assert.match(await item.locator('.status').textContent(), /^active$/);
  assert.equal(await item.locator('.remaining').textContent(), yuan(80_000));
  assert.equal(await item.locator('.budget').textContent(), yuan(80_000));
  assert.match(await item.textContent(), new RegExp(WORDS));
  assert.match(await item.textContent(), /Trail Scout/);
  const active = (await mandates()).find((m) => m.id === mandateId);
  assert.equal(active.status, 'active');
  assert.equal(active.usage.remaining_budget.amount, 80_000);
  await fitsWidth(page);
  await shot(page, 'mandates-list-phone');

  // Trail Scout pays within it: ¥250 is below the ¥300 she set for asking.
  const paid = pay(mandateId, 25_000, 'shoes-1');
  assert.equal(paid.status, 'approved', JSON.stringify(paid));
  await page.reload();
  assert.equal(await item.locator('.remaining').textContent(), yuan(55_000));
  assert.equal(await item.locator('.spent').textContent(), yuan(25_000));
  // Above ¥300 it asks her; above the per-payment limit it is declined.
  assert.equal(pay(mandateId, 35_000, 'shoes-2').status, 'needs_confirmation');
  assert.notEqual(pay(mandateId, 61_000, 'shoes-3').status, 'approved');
});

test('revoking on the page stops the agent’s next payment', async () => {
  assert.ok(mandateId, 'the first test made a mandate');
  const { page } = mei;
  await page.goto(`${base}/mandates`);
  await page.locator(`#mandate-${mandateId}`).getByRole('link', { name: 'Revoke' }).click();
  await page.getByRole('heading', { name: 'Revoke this mandate?' }).waitFor();
  assert.equal((await mandates()).find((m) => m.id === mandateId).status, 'active', 'asking changes nothing');
  await page.getByRole('button', { name: 'Yes, revoke it' }).click();
  await page.waitForURL(`${base}/mandates`);
  await page.locator('#done').getByText('Revoked: your agent can no longer pay with that mandate.').waitFor();
  await page.reload();
  assert.equal(await page.locator('#done').count(), 0, 'said once');
  await page.goto(`${base}/mandates?done=consented`);
  assert.equal(await page.locator('#done').count(), 0, 'a crafted ?done= says nothing');
  const item = page.locator(`#mandate-${mandateId}`);
  assert.equal(await item.getAttribute('data-status'), 'revoked');
  assert.equal(await item.getByRole('link', { name: 'Revoke' }).count(), 0);
  const r = pay(mandateId, 10_000, 'shoes-4');
  assert.ok(['refused', 'declined'].includes(r.status), JSON.stringify(r));
  assert.match(JSON.stringify(r), /revoked/);
});

test('words Purser cannot use are said next to the field, and nothing is stored', async () => {
  const { page } = mei;
  const before = (await mandates()).length;
  await page.goto(`${base}/mandates/new`);
  await page.getByLabel('What do you want your agent to do?').fill('flibber the wobbly gizmo thrice');
  await page.getByRole('button', { name: 'Show me the proposal' }).click();
  const err = page.locator('#words-error');
  await err.waitFor();
  assert.match(await err.textContent(), /did not understand .*flibber/);
  assert.equal(await page.getByLabel('What do you want your agent to do?').inputValue(), 'flibber the wobbly gizmo thrice');
  assert.equal(await page.getByLabel('What do you want your agent to do?').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByRole('heading', { name: 'Your proposal' }).count(), 0);
  assert.equal((await mandates()).length, before, 'no mandate created');
});

test('the PIN consents when the passkey is not at hand, with the wallet’s PIN check', async () => {
  const { page } = mei;
  await page.goto(`${base}/mandates/new`);
  await page.getByLabel('What do you want your agent to do?').fill('at most ¥200 a week on coffee');
  await page.getByRole('button', { name: 'Show me the proposal' }).click();
  // The form sent twice at once (a double click), then clicked: one draft, one consent page.
  // (`form.action` is the button named "action" here: the attribute is the URL.)
  const before = (await mandates()).length;
  const continueButton = page.getByRole('button', { name: 'Continue to consent' });
  const statuses = await continueButton.evaluate(async (button) => {
    const body = new URLSearchParams(new FormData(button.form));
    body.set('action', 'create');
    const send = () => fetch(button.form.getAttribute('action'), { method: 'POST', body, redirect: 'manual' }).then((r) => r.type === 'opaqueredirect' ? 303 : r.status);
    return Promise.all([send(), send()]);
  });
  assert.deepEqual(statuses, [303, 303], 'both answered with a redirect');
  await continueButton.click();
  await page.getByRole('heading', { name: 'Consent to this mandate' }).waitFor();
  const id = new URL(page.url()).pathname.split('/')[2];
  const now = await mandates();
  assert.equal(now.length, before + 1, 'one draft for the same form sent three times');
  assert.equal(now.find((m) => m.id === id)?.status, 'draft');
  await page.getByLabel('Your Purser PIN').fill('000000');
  await page.getByRole('button', { name: 'Consent with PIN' }).click();
  await page.locator('#pin-error').waitFor();
  assert.equal((await mandates()).find((m) => m.id === id).status, 'draft', 'a wrong PIN consents to nothing');
  await page.getByLabel('Your Purser PIN').fill(fx.mei.pin);
  await page.getByRole('button', { name: 'Consent with PIN' }).click();
  await page.waitForURL(`${base}/mandates`);
  await page.locator('#done').getByText('You consented').waitFor();
  assert.equal(await page.locator(`#mandate-${id}`).getAttribute('data-status'), 'active');
});

test('a 375-px phone and Chinese headings', async () => {
  const { page } = mei;
  await page.goto(`${base}/mandates?lang=zh`);
  await page.getByRole('heading', { name: '授权' }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'zh-Hans');
  await fitsWidth(page);
  await shot(page, 'mandates-list-zh-phone');
  await page.goto(`${base}/mandates/new`);
  await page.getByRole('heading', { name: '新建授权' }).waitFor();
  await page.getByLabel('您希望代理做什么？').fill(WORDS);
  await page.getByRole('button', { name: '查看提议' }).click();
  await page.getByRole('heading', { name: '您的提议' }).waitFor();
  await page.getByRole('heading', { name: '调整提议' }).waitFor();
  await fitsWidth(page);
  await shot(page, 'mandates-proposal-zh-phone');
  await page.goto(`${base}/mandates?lang=en`);
  assert.deepEqual(w.cspErrors, [], 'no Content-Security-Policy violation');
});
