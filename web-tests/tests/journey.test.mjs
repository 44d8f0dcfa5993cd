// The "done when", as one person's story on a 375-px phone, from the wallet's own
// pages: Mei binds an agent she has never seen, gives it a mandate in her own words and
// consents with her passkey, watches it shop live, approves the payment it needs her for with
// her passkey, freezes it (its next request is refused), and reads the bill. Only the agent's
// side runs outside the browser (`purser dev agent bind|pay`, signed requests).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPurser, shot, fitsWidth, yuan, PHONE } from '../lib/harness.mjs';

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

const TASK = 'task-price-hawk-boots';

/// Price Hawk, the agent Mei has never seen, acting through its own signed requests.
function hawk(args) {
  return JSON.parse(w.purser(['dev', 'agent', ...args.slice(0, 1), '--server', w.direct,
    '--key', fx.new_agent.key_file, '--user', fx.mei.user_id, ...args.slice(1)]));
}

function pay(mandate, title, amount) {
  return hawk(['pay', '--mandate', mandate, '--merchant', fx.merchant_id, '--task', TASK,
    '--title', title, '--amount', String(amount)]);
}

test('bind, mandate from words, watch it shop, approve on the phone, freeze, read the bill', async () => {
  const { page } = await w.signedIn(fx.mei, PHONE);
  const nav = page.getByRole('navigation', { name: 'Wallet sections' });

  // 1. The agent asks; Mei approves it on the Agents page.
  assert.equal(hawk(['bind', '--purpose', 'find hiking boots at the best price']).status, 'pending');
  await nav.getByRole('link', { name: 'Agents' }).click();
  await page.locator('#asking li', { hasText: 'Price Hawk' }).getByRole('button', { name: 'Approve Price Hawk' }).click();
  await page.locator('article.agent', { hasText: 'Price Hawk' }).waitFor();
  await fitsWidth(page);

  // 2. A mandate in her own words, the proposal, consent with her passkey.
  await nav.getByRole('link', { name: 'Mandates' }).click();
  await page.getByRole('link', { name: 'New mandate' }).first().click();
  await page.getByLabel('What do you want your agent to do?').fill('Buy hiking boots under 600 yuan at Trailhead Outfitters, ask me above 300');
  await page.getByLabel('Which agent').selectOption({ label: 'Price Hawk' });
  await page.getByRole('button', { name: 'Show me the proposal' }).click();
  await page.getByRole('heading', { name: 'Your proposal' }).waitFor();
  await page.getByLabel('Budget in all (CNY)').fill('800');
  await page.getByRole('button', { name: 'Update the summary' }).click();
  await page.locator('#summary', { hasText: 'a total budget of ¥800.00' }).waitFor();
  await page.getByRole('button', { name: 'Continue to consent' }).click();
  await page.getByRole('heading', { name: 'Consent to this mandate' }).waitFor();
  await page.getByRole('button', { name: 'Consent with my passkey' }).click();
  await page.waitForURL(/\/mandates$/);
  const mine = (await w.api('/v1/mandates', fx.mei.api_token)).data
    .filter((m) => m.mandate.provenance.user_words.includes('600 yuan'));
  assert.equal(mine.length, 1, 'one mandate for Price Hawk');
  assert.equal(mine[0].status, 'active');
  const mandate = mine[0].id;

  // 3. It shops; Mei watches the task's timeline, which updates by itself.
  const first = pay(mandate, 'Trail Runner Hiking Boots', 19_900);
  assert.equal(first.status, 'approved', JSON.stringify(first));
  await nav.getByRole('link', { name: 'Live tasks' }).click();
  await page.getByRole('link', { name: new RegExp(TASK) }).click();
  await page.locator('#timeline li', { hasText: yuan(19_900) }).waitFor();
  const asks = pay(mandate, 'Granite Leather Hiking Boots', 45_900);
  assert.equal(asks.status, 'needs_confirmation', JSON.stringify(asks));
  const waiting = page.locator('#timeline li', { hasText: yuan(45_900) });
  await waiting.getByRole('link', { name: 'Review and answer' }).waitFor(); // no reload
  await shot(page, 'journey-task-phone');

  // 4. She approves it on the phone with her passkey.
  await waiting.getByRole('link', { name: 'Review and answer' }).click();
  await page.getByRole('heading', { name: 'Confirm this payment' }).waitFor();
  await fitsWidth(page);
  await page.locator('#passkey-answer').getByRole('button', { name: `Approve ${yuan(45_900)}` }).click();
  await page.getByText(`Approved — the agent can now pay ${yuan(45_900)}.`).waitFor();
  assert.equal((await w.api(`/v1/payments/${asks.payment_id}`, fx.mei.api_token)).status, 'approved');

  // 5. She freezes it: its next request is refused.
  await page.goto(`${base}/agents`);
  const card = page.locator('article.agent', { hasText: 'Price Hawk' });
  await card.getByRole('button', { name: 'Freeze Price Hawk' }).click();
  await card.locator('.badge', { hasText: 'Frozen' }).waitFor();
  const refused = pay(mandate, 'Summit Lite Hiking Boots', 9_900);
  assert.ok(['declined', 'refused'].includes(refused.status), JSON.stringify(refused));
  assert.equal(refused.decline?.code ?? refused.code, 'agent_frozen', JSON.stringify(refused));

  // 6. The bill: this agent's three requests (the last one declined: frozen).
  await page.getByRole('navigation', { name: 'Wallet sections' }).getByRole('link', { name: 'Bills' }).click();
  await page.getByLabel('Agent', { exact: true }).selectOption({ label: 'Price Hawk' });
  await page.getByRole('button', { name: 'Show the bill' }).click();
  const rows = page.locator('#bill tbody tr');
  assert.equal(await rows.count(), 3);
  const bill = await page.locator('#bill').textContent();
  // Freezing cancelled what it had not yet spent (its holds came back); the frozen request
  // is declined.
  for (const shown of [yuan(19_900), yuan(45_900), yuan(9_900), 'Trailhead Outfitters', 'cancelled', 'declined']) {
    assert.ok(bill.includes(shown), `${shown} on the bill`);
  }
  await fitsWidth(page);
  await shot(page, 'journey-bill-phone');
});

test('no page broke its Content-Security-Policy', () => {
  assert.deepEqual(w.cspErrors, []);
});
