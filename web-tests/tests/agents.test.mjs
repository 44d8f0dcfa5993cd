// The Agents page in a real browser: a binding request approved, the kill switch (freeze →
// the agent's payment is refused → unfreeze → it is answered again), the agent's own card
// topped up and withdrawn from (money typed as money, a resent form moving nothing twice, a
// withdrawal above the balance refused next to its field), phone width, keyboard, Chinese.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPurser, shot, fitsWidth, yuan, PHONE, DESKTOP } from '../lib/harness.mjs';

let w;
let base;
let fx;
let mei;

before(async () => {
  w = await startPurser(['--pending', '1']);
  ({ base, fx } = w);
  mei = await w.signedIn(fx.mei, DESKTOP);
});

after(async () => {
  if (w) await w.stop();
});

/// Trail Scout asks to pay (`purser dev agent pay`); Purser's answer as JSON.
function agentPays(task, title) {
  const args = ['dev', 'agent', 'pay', '--server', w.direct, '--key', fx.agent.key_file, '--user', fx.mei.user_id,
    '--mandate', fx.mandate_id, '--merchant', fx.merchant_id, '--task', task, '--title', title, '--amount', '19900'];
  let out;
  try {
    out = w.purser(args);
  } catch (e) {
    out = e.stdout; // an answer that is a refusal may exit non-zero; its JSON is still printed
  }
  return JSON.parse(out);
}

/// Clicks a form's button and waits until the page its redirect leads to (`/agents`) has loaded.
/// What was done is said there once (a session-bound one-shot cookie), never in the URL.
async function submit(page, button) {
  const back = page.waitForResponse((r) => r.url() === `${base}/agents` && r.request().method() === 'GET');
  await button.click();
  await back;
  await page.waitForLoadState();
  assert.equal(page.url(), `${base}/agents`, 'nothing about what was done in the URL');
}

/// Trail Scout's exclusive card and Mei's CNY balance, as the JSON API says.
async function money() {
  const cards = await w.api('/v1/exclusive-cards', fx.mei.api_token);
  const card = cards.data.find((c) => c.binding_id === fx.agent.binding_id && c.status === 'active');
  const wallet = await w.api('/v1/wallet', fx.mei.api_token);
  const cny = wallet.balances.find((b) => b.currency === 'CNY');
  return { card: card.balance.amount, cardId: card.id, wallet: cny.available.amount };
}

test('Price Hawk asks to act for Mei; she approves it and it is listed as her agent', async () => {
  w.purser(['dev', 'agent', 'bind', '--server', w.direct, '--key', fx.new_agent.key_file, '--user', fx.mei.user_id]);
  const { page } = mei;
  await page.goto(`${base}/agents`);
  await page.getByRole('heading', { name: 'Agents', exact: true }).waitFor();
  const ask = page.locator('#asking li', { hasText: 'Price Hawk' });
  await ask.waitFor();
  const asked = await ask.textContent();
  assert.match(asked, /run by/);
  assert.match(asked, /It says it will:/);
  assert.match(asked, /Asked \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  assert.equal(await page.locator('#agent-' + fx.agent.binding_id).count(), 1, 'Trail Scout is already bound');
  await submit(page, ask.getByRole('button', { name: 'Approve Price Hawk' }));
  await page.locator('#done').getByText('Price Hawk may now act for you, within your mandates.').waitFor();
  assert.equal(await page.locator('#asking li').count(), 0, 'nothing is asking any more');
  const hawk = page.locator('article.agent', { hasText: 'Price Hawk' });
  await hawk.waitFor();
  assert.match(await hawk.textContent(), /acting for you since/);
  assert.match(await hawk.textContent(), /No active mandate/);
  const bound = await w.api('/v1/bindings?status=active', fx.mei.api_token);
  assert.ok(bound.data.some((b) => b.agent.name === 'Price Hawk'), 'the wallet says Price Hawk is bound');
});

test('freezing Trail Scout refuses its payment at once; unfreezing lets it pay again', async () => {
  const { page } = mei;
  await page.goto(`${base}/agents`);
  const scout = page.locator(`#agent-${fx.agent.binding_id}`);
  assert.match(await scout.textContent(), /every request from this agent is refused until you unfreeze it/);
  await submit(page, scout.getByRole('button', { name: 'Freeze Trail Scout' }));
  await page.locator('#done').getByText('Trail Scout is frozen: every request from it is refused until you unfreeze it.').waitFor();
  await scout.locator('.badge', { hasText: 'Frozen' }).waitFor();
  await page.getByRole('button', { name: 'Unfreeze Trail Scout' }).waitFor();

  const refused = agentPays('web-freeze-1', 'Pathfinder Lightweight Hiking Boots');
  assert.notEqual(refused.status, 'approved', JSON.stringify(refused));
  assert.notEqual(refused.status, 'needs_confirmation', JSON.stringify(refused));
  assert.equal(refused.code ?? refused.decline?.code, 'agent_frozen', JSON.stringify(refused));

  await submit(page, scout.getByRole('button', { name: 'Unfreeze Trail Scout' }));
  await page.locator('#done').getByText('Trail Scout is unfrozen and may act for you again.').waitFor();
  await scout.getByRole('button', { name: 'Freeze Trail Scout' }).waitFor();
  assert.equal(await scout.locator('.badge', { hasText: 'Frozen' }).count(), 0);
  const answered = agentPays('web-freeze-2', 'Canyon Low Hiking Boots');
  assert.ok(['approved', 'needs_confirmation'].includes(answered.status), JSON.stringify(answered));

  // The notice was said once; a link that claims something was done says nothing.
  await page.reload();
  assert.equal(await page.locator('#done').count(), 0, 'said once, not again on reload');
  await page.goto(`${base}/agents?done=frozen&b=${fx.agent.binding_id}`);
  await scout.waitFor();
  assert.equal(await page.locator('#done').count(), 0, 'a crafted ?done= says nothing');
});

test('top up Trail Scout’s card by 100, withdraw 50; a form sent twice moves once; too much is refused', async () => {
  const { page } = mei;
  const start = await money();
  await page.goto(`${base}/agents`);
  const scout = page.locator(`#agent-${fx.agent.binding_id}`);
  assert.ok((await scout.locator('[data-balance]').textContent()).includes(yuan(start.card)));

  // Top up 100, sending the same form twice (a double click, or back and resend).
  const topUp = scout.getByLabel('Top up from your wallet, in CNY');
  await topUp.fill('100');
  const statuses = await topUp.evaluate(async (input) => {
    const body = new URLSearchParams(new FormData(input.form));
    const send = () => fetch(input.form.action, { method: 'POST', body, redirect: 'manual' }).then((r) => r.type === 'opaqueredirect' ? 303 : r.status);
    return [await send(), await send()];
  });
  assert.deepEqual(statuses, [303, 303], 'both answered with a redirect');
  let now = await money();
  assert.equal(now.card, start.card + 10_000, 'the card got ¥100.00 once');
  assert.equal(now.wallet, start.wallet - 10_000, 'the wallet gave ¥100.00 once');

  // Withdraw 50 through the page.
  await page.goto(`${base}/agents`);
  assert.ok((await scout.locator('[data-balance]').textContent()).includes(yuan(start.card + 10_000)));
  await scout.getByLabel('Withdraw to your wallet, in CNY').fill('50');
  await submit(page, scout.getByRole('button', { name: 'Withdraw' }));
  const after50 = yuan(start.card + 5_000);
  await page.locator('#done').getByText(`it now holds ${after50}`).waitFor();
  assert.ok((await scout.locator('[data-balance]').textContent()).includes(after50));
  now = await money();
  assert.equal(now.card, start.card + 5_000);
  assert.equal(now.wallet, start.wallet - 5_000);

  // More than the card holds: said next to the field, nothing moved.
  const tooMuchMinor = start.card + 5_000 + 100;
  const tooMuch = (tooMuchMinor / 100).toFixed(2);
  await scout.getByLabel('Withdraw to your wallet, in CNY').fill(tooMuch);
  await scout.getByRole('button', { name: 'Withdraw' }).click();
  const err = scout.locator(`#withdraw-err-${now.cardId}`);
  await err.waitFor();
  assert.equal(await err.textContent(), `This card holds ${after50}, less than ${yuan(tooMuchMinor)}: nothing was moved.`);
  const field = scout.getByLabel('Withdraw to your wallet, in CNY');
  assert.equal(await field.getAttribute('aria-invalid'), 'true');
  assert.equal(await field.inputValue(), tooMuch, 'what she typed is still there');
  assert.deepEqual(await money(), now, 'nothing moved');

  // A bad amount and zero: said next to the field, nothing moved.
  await scout.getByLabel('Top up from your wallet, in CNY').fill('12.345');
  await scout.getByRole('button', { name: 'Top up' }).click();
  await scout.locator(`#fund-err-${now.cardId}`).getByText('CNY has 2 decimal places: type at most that many.').waitFor();
  await scout.getByLabel('Top up from your wallet, in CNY').fill('0');
  await scout.getByRole('button', { name: 'Top up' }).click();
  await scout.locator(`#fund-err-${now.cardId}`).getByText('Type an amount above zero.').waitFor();
  assert.deepEqual(await money(), now, 'nothing moved');
  await shot(page, 'agents-withdraw-error-desktop');

  // The same form without the page's CSRF token is refused, and moves nothing.
  await scout.getByLabel('Withdraw to your wallet, in CNY').fill('1');
  const forged = await scout.getByLabel('Withdraw to your wallet, in CNY').evaluate(async (input) => {
    const body = new URLSearchParams(new FormData(input.form));
    body.delete('csrf');
    const r = await fetch(input.form.action, { method: 'POST', body, redirect: 'manual' });
    return r.status;
  });
  assert.equal(forged, 403);
  assert.deepEqual(await money(), now, 'nothing moved without the CSRF token');
});

test('Price Hawk gets a card of its own; Trail Scout is restricted to its card and back; revoking asks first, then ends Price Hawk', async () => {
  const { page } = mei;
  await page.goto(`${base}/agents`);
  const hawk = page.locator('article.agent', { hasText: 'Price Hawk' });
  await submit(page, hawk.getByRole('button', { name: 'Create a card for Price Hawk' }));
  await page.locator('#done').getByText('Price Hawk has its own card now.').waitFor();
  await hawk.locator('[data-balance]').getByText('¥0.00').waitFor();
  await hawk.getByRole('button', { name: 'Revoke Price Hawk…' }).click();
  await page.getByRole('heading', { name: 'Revoke Price Hawk?' }).waitFor();
  assert.match(await page.locator('main').textContent(), /cannot be undone/);
  await page.getByRole('link', { name: 'No, keep Price Hawk' }).click();
  await page.locator('article.agent', { hasText: 'Price Hawk' }).waitFor();
  const bound = await w.api('/v1/bindings?status=active', fx.mei.api_token);
  assert.ok(bound.data.some((b) => b.agent.name === 'Price Hawk'), 'still bound after “keep”');

  // What Trail Scout may pay from: only its own card, then the wallet again.
  const scout = page.locator(`#agent-${fx.agent.binding_id}`);
  const { cardId } = await money();
  await scout.getByLabel('It pays from').selectOption(cardId);
  await submit(page, scout.getByRole('button', { name: 'Save' }));
  await page.locator('#done').getByText('Saved: what Trail Scout may pay from.').waitFor();
  let b = await w.api(`/v1/bindings/${fx.agent.binding_id}`, fx.mei.api_token);
  assert.equal(b.funding_source, cardId);
  assert.equal(await scout.getByLabel('It pays from').inputValue(), cardId);
  await scout.getByLabel('It pays from').selectOption('wallet');
  await submit(page, scout.getByRole('button', { name: 'Save' }));
  await page.locator('#done').getByText('Saved: what Trail Scout may pay from.').waitFor();
  b = await w.api(`/v1/bindings/${fx.agent.binding_id}`, fx.mei.api_token);
  assert.equal(b.funding_source ?? null, null);

  // Revoke Price Hawk for real: its binding ends and its card is closed.
  await hawk.getByRole('button', { name: 'Revoke Price Hawk…' }).click();
  await submit(page, page.getByRole('button', { name: 'Yes, revoke Price Hawk' }));
  await page.locator('#done').getByText('Price Hawk no longer acts for you').waitFor();
  assert.equal(await page.locator('article.agent', { hasText: 'Price Hawk' }).count(), 0);
  const all = await w.api('/v1/bindings', fx.mei.api_token);
  const hawkBinding = all.data.find((x) => x.agent.name === 'Price Hawk');
  assert.equal(hawkBinding.status, 'revoked');
  const cards = await w.api('/v1/exclusive-cards', fx.mei.api_token);
  assert.ok(cards.data.filter((c) => c.binding_id === hawkBinding.id).every((c) => c.status === 'closed'), 'its card is closed');
});

test('at 375 px the page fits, the keyboard reaches the freeze button, and it reads in Chinese', async () => {
  const d = await w.signedIn(fx.mei, PHONE);
  const { page } = d;
  await page.goto(`${base}/agents`);
  await fitsWidth(page);
  await shot(page, 'agents-phone');
  let reached = false;
  for (let i = 0; i < 60 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.textContent === 'Freeze Trail Scout');
  }
  assert.ok(reached, 'the Freeze Trail Scout button is reachable with Tab');
  await mei.page.goto(`${base}/agents`);
  await shot(mei.page, 'agents-desktop');

  await page.goto(`${base}/agents?lang=zh`);
  await page.getByRole('heading', { name: '代理', exact: true }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'zh-Hans');
  assert.match(await page.locator('main').textContent(), /冻结 Trail Scout/);
  await fitsWidth(page);
  await shot(page, 'agents-zh-phone');
  await d.context.close();
  assert.deepEqual(w.cspErrors, [], 'no Content-Security-Policy violation');
});
