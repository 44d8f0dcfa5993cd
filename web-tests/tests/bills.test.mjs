// The Bills page in a real browser: the bill with its filters and totals, the spending chart,
// the CSV download, one payment's evidence (checked offline by `purser evidence verify`), and
// another person's evidence URL. Payments are made first by the fixture's agent (`purser dev
// agent pay`) and captured or refunded by the fixture's merchant through the API, so the bill
// has spent, refunded and held money.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startPurser, shot, fitsWidth, yuan, PHONE, DESKTOP } from '../lib/harness.mjs';

let w;
let base;
let fx;
let mei;
const made = {};

/// `¥1,234.56` → 123456.
function minor(text) {
  const m = /(-?)¥([\d,]+)\.(\d{2})/.exec(text);
  assert.ok(m, `no amount in ${JSON.stringify(text)}`);
  return (m[1] ? -1 : 1) * (Number(m[2].replaceAll(',', '')) * 100 + Number(m[3]));
}

function pay(title, amount, task = 'task-bills') {
  const out = JSON.parse(w.purser([
    'dev', 'agent', 'pay', '--server', w.direct, '--key', fx.agent.key_file, '--user', fx.mei.user_id,
    '--mandate', fx.mandate_id, '--merchant', fx.merchant_id, '--task', task, '--title', title, '--amount', String(amount),
  ]));
  assert.equal(out.status, 'approved', JSON.stringify(out));
  return out;
}

async function merchant(path, body) {
  const r = await fetch(`${w.direct}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.merchant_key}`, 'content-type': 'application/json', 'idempotency-key': `k-${Math.random()}` },
    body: JSON.stringify(body),
  });
  const j = await r.json();
  assert.ok(r.ok, `${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

before(async () => {
  w = await startPurser(['--pending', '2']);
  ({ base, fx } = w);
  // Paid in full.
  made.socks = pay('Merino Hiking Boots Laces', 3_500);
  await merchant('/v1/merchant/captures', { credential: made.socks.credential, amount: { amount: 3_500, currency: 'CNY' } });
  // Paid, then ¥20.00 refunded. Its item text would be a formula in a spreadsheet.
  made.insoles = pay('=HYPERLINK("http://evil.example","Hiking Boots insoles")', 12_000);
  await merchant('/v1/merchant/captures', { credential: made.insoles.credential, amount: { amount: 12_000, currency: 'CNY' } });
  await merchant(`/v1/merchant/payments/${made.insoles.payment_id}/refunds`, { amount: { amount: 2_000, currency: 'CNY' } });
  // Approved, not yet charged.
  made.wax = pay('Hiking Boots Wax', 2_800);
  // A second agent, bound but with no payments: filtering by it leaves nothing.
  const b = JSON.parse(w.purser(['dev', 'agent', 'bind', '--server', w.direct, '--key', fx.new_agent.key_file, '--user', fx.mei.user_id]));
  const r = await fetch(`${w.direct}/v1/bindings/${b.binding_id}/approve`, {
    method: 'POST', headers: { authorization: `Bearer ${fx.mei.api_token}`, 'content-type': 'application/json', 'idempotency-key': 'bind-hawk' }, body: '{}',
  });
  assert.ok(r.ok, await r.text());

  mei = await w.signedIn(fx.mei, DESKTOP);
  // Approve one pending payment with the PIN on its confirmation page.
  const { page } = mei;
  await page.goto(`${base}${fx.pending[0].path}`);
  await page.locator('#pin-answer').getByLabel('Your Purser PIN').fill(fx.mei.pin);
  await page.locator('#pin-answer').getByRole('button', { name: /^Approve/ }).click();
  await page.getByText(/Approved — the agent can now pay/).waitFor();
});

after(async () => {
  if (w) await w.stop();
});

/// The table's rows: id, status word, amount and refunded (minor units).
async function rows(page) {
  return page.locator('#bill tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    id: tr.dataset.payment,
    status: tr.dataset.status,
    cells: [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()),
  })));
}

async function total(page, which) {
  return minor(await page.locator(`dl.totals[data-currency="CNY"] [data-total="${which}"]`).textContent());
}

test('the bill lists the payments, its totals add up, and filters change both', async () => {
  const { page } = mei;
  const resp = await page.goto(`${base}/bills`);
  assert.equal(resp.status(), 200);
  await page.getByRole('heading', { name: 'Bills', level: 1 }).waitFor();
  const all = await rows(page);
  const ids = all.map((r) => r.id);
  for (const p of [made.socks, made.insoles, made.wax, fx.pending[0], fx.pending[1]]) {
    assert.ok(ids.includes(p.payment_id), `${p.payment_id} listed`);
  }
  assert.equal(all.length, 5);
  const text = await page.locator('#bill').textContent();
  for (const s of ['Trail Scout', 'Trailhead Outfitters', 'Merino Hiking Boots Laces', '=HYPERLINK("http://evil.example","Hiking Boots insoles")', yuan(12_000), fx.pending[0].title]) {
    assert.ok(text.includes(s), `${s} in the table`);
  }
  // Totals match the rows: spent = the amounts of the paid rows (captured in full), refunded
  // = what the rows say was refunded, net = the difference, held = the rows not yet charged.
  const amount = (r) => minor(r.cells[4]);
  const paid = all.filter((r) => ['captured', 'refunded'].includes(r.status));
  const spent = paid.reduce((s, r) => s + amount(r), 0);
  const refunded = all.reduce((s, r) => s + (/refunded\)/.test(r.cells[5]) ? minor(r.cells[5]) : 0), 0);
  const heldRows = all.filter((r) => ['approved', 'needs_confirmation'].includes(r.status));
  const held = heldRows.reduce((s, r) => s + amount(r), 0);
  assert.equal(spent, 15_500);
  assert.equal(refunded, 2_000);
  assert.equal(await total(page, 'spent'), spent);
  assert.equal(await total(page, 'refunded'), refunded);
  assert.equal(await total(page, 'net'), spent - refunded);
  assert.equal(await total(page, 'held'), held);
  assert.equal(held, 2_800 + fx.pending[0].amount + fx.pending[1].amount);

  // Filter by the agent and the merchant (GET form: the URL carries the filter).
  await page.getByLabel('Agent', { exact: true }).selectOption({ label: 'Trail Scout' });
  await page.getByLabel('Merchant', { exact: true }).selectOption({ label: 'Trailhead Outfitters' });
  await page.getByRole('button', { name: 'Show the bill' }).click();
  await page.waitForURL(/agent_id=agt_.*merchant_id=mch_/);
  assert.equal((await rows(page)).length, 5);
  assert.equal(await total(page, 'spent'), spent);
  const shared = page.url();

  // The other agent has paid nothing.
  await page.getByLabel('Agent', { exact: true }).selectOption({ label: 'Price Hawk' });
  await page.getByRole('button', { name: 'Show the bill' }).click();
  await page.waitForURL(new RegExp(`agent_id=${fx.new_agent.agent_id}`));
  assert.equal(await page.locator('#bill tbody tr').count(), 0);
  assert.equal(await page.locator('dl.totals').count(), 0, 'no totals when nothing matches');
  await page.getByText('No payments match these filters.').first().waitFor();

  // A period before any of them: nothing.
  await page.goto(shared);
  await page.getByLabel('From', { exact: true }).fill('2020-01-01');
  await page.getByLabel('To (inclusive)', { exact: true }).fill('2020-01-31');
  await page.getByRole('button', { name: 'Show the bill' }).click();
  await page.waitForURL(/from=2020-01-01&to=2020-01-31/);
  assert.equal(await page.locator('#bill tbody tr').count(), 0);
  assert.equal(await page.locator('dl.totals').count(), 0);

  // The "This month" preset takes them back (they were made today), keeping the agent.
  await page.getByRole('link', { name: 'This month' }).click();
  await page.waitForURL(/from=\d{4}-\d{2}-01&to=/);
  assert.ok(page.url().includes(`agent_id=${fx.agent.agent_id}`));
  assert.equal((await rows(page)).length, 5);
  assert.equal(await total(page, 'net'), spent - refunded);

  // Only the mandate's payments — all of them here.
  await page.goto(`${base}/bills?mandate_id=${fx.mandate_id}`);
  assert.equal((await rows(page)).length, 5);

  // Bad values are said next to their field, on a page, never as a raw error.
  const bad = await page.goto(`${base}/bills?from=2026-13-40&agent_id=agt_nosuchagentatallxxxxxxx`);
  assert.equal(bad.status(), 400);
  assert.ok(bad.headers()['content-type'].startsWith('text/html'));
  await page.locator('#from-error').getByText('Write the date as year-month-day, for example 2026-11-01.').waitFor();
  await page.locator('#agent_id-error').getByText('None of your agents has this id.').waitFor();
  assert.equal(await page.getByLabel('From', { exact: true }).getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#bill').count(), 0, 'no bill for a bad filter');
  assert.ok(!(await page.content()).includes('"code"'));
  await shot(page, 'bills-bad-filter-desktop');
  const backwards = await page.goto(`${base}/bills?from=2026-11-02&to=2026-11-01`);
  assert.equal(backwards.status(), 400);
  await page.locator('#to-error').getByText('The end date is before the start date.').waitFor();
});

test('the spending chart is an SVG with an accessible name and a text alternative', async () => {
  const { page } = mei;
  await page.goto(`${base}/bills`);
  const chart = page.getByRole('img', { name: 'Spending per day in CNY' });
  await chart.waitFor();
  assert.equal(await chart.evaluate((e) => e.tagName.toLowerCase()), 'svg');
  const desc = await chart.locator('desc').textContent();
  assert.ok(desc.includes(`${yuan(15_500 - 2_000)} spent in all`), desc);
  // One bar per day; today's bar carries today's spending.
  const today = new Date().toISOString().slice(0, 10);
  const bars = await chart.locator('rect title').allTextContents();
  assert.ok(bars.includes(`${today}: ${yuan(13_500)}`), bars.join('|'));
  // The same as a table, for anyone who cannot see the picture.
  await page.getByText('The days with spending, as a table').click();
  const t = await page.locator('details table').textContent();
  assert.ok(t.includes(today) && t.includes(yuan(13_500)), t);
});

test('the CSV download holds the rows of the table, formulas defused', async () => {
  const { page } = mei;
  await page.goto(`${base}/bills`);
  const table = await rows(page);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download as CSV' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'purser-bill.csv');
  const file = join(w.data, 'bill.csv');
  await download.saveAs(file);
  const csv = readFileSync(file, 'utf8');
  const lines = csv.trimEnd().split('\r\n');
  const head = lines[0].split(',');
  assert.deepEqual(head.slice(0, 3), ['payment_id', 'created_at', 'status']);
  for (const c of ['agent_name', 'merchant_name', 'currency', 'amount', 'captured', 'refunded', 'net', 'items']) {
    assert.ok(head.includes(c), `column ${c}`);
  }
  const body = lines.slice(1);
  assert.deepEqual(body.map((l) => l.split(',')[0]), table.map((r) => r.id), 'the same rows in the same order');
  for (const r of table) {
    const line = body.find((l) => l.startsWith(`${r.id},`));
    assert.ok(line.includes(`,${r.status},`), line);
    assert.ok(line.includes(`,CNY,${(minor(r.cells[4]) / 100).toFixed(2)},`), `${line} / ${r.cells[4]}`);
  }
  const evil = body.find((l) => l.startsWith(made.insoles.payment_id));
  assert.ok(evil.includes(`"'=HYPERLINK(""http://evil.example"",""Hiking Boots insoles"")"`), evil);
  assert.ok(evil.includes(',120.00,120.00,20.00,100.00,'), evil);
  // The same filters give the same file as `purser bill --csv` asks the API for.
  const filtered = await page.request.get(`${base}/bills.csv?from=2020-01-01&to=2020-01-31`);
  assert.equal(filtered.status(), 200);
  assert.match(filtered.headers()['content-disposition'], /^attachment/);
  assert.equal((await filtered.text()).trimEnd().split('\r\n').length, 1, 'only the header');
  const api = await fetch(`${base}/v1/bills?format=csv`, { headers: { authorization: `Bearer ${fx.mei.api_token}` } });
  assert.equal(await api.text(), csv, 'byte for byte what purser bill --csv writes');
});

test('a payment’s evidence downloads and verifies offline', async () => {
  const { page } = mei;
  await page.goto(`${base}/bills`);
  const row = page.locator(`#bill tr[data-payment="${made.insoles.payment_id}"]`);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row.getByRole('link', { name: /^Evidence of the payment of ¥120\.00/ }).click(),
  ]);
  assert.equal(download.suggestedFilename(), `evidence-${made.insoles.payment_id}.json`);
  const file = join(w.data, download.suggestedFilename());
  await download.saveAs(file);
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  const api = await fetch(`${base}/v1/payments/${made.insoles.payment_id}/evidence`, { headers: { authorization: `Bearer ${fx.mei.api_token}` } });
  const same = await api.json();
  // The same bundle as the API; only the moment of export (and the seal over it) differ.
  assert.deepEqual(Object.keys(doc).sort(), Object.keys(same).sort());
  for (const k of Object.keys(doc).filter((k) => k !== 'exported_at' && !/seal/.test(k))) {
    assert.deepEqual(doc[k], same[k], k);
  }
  // Exits non-zero (and execFileSync throws) unless every signature and hash holds.
  const jwks = join(w.data, 'jwks.json');
  writeFileSync(jwks, await (await fetch(`${base}/.well-known/jwks.json`)).text());
  const out = w.purser(['evidence', 'verify', file, '--keys', jwks]);
  assert.match(out, new RegExp(`Verified: .* is the evidence of ${made.insoles.payment_id}`));
});

test('another person’s evidence URL is a not-found page, and signed out goes to sign in', async () => {
  // Ana, the fixture's other person, signs up with her setup token and a passkey.
  const ana = await w.device(PHONE);
  const { page } = ana;
  await page.goto(`${base}/signup`);
  await page.getByLabel('Setup token or API token').fill(fx.ana.setup_token);
  await page.getByLabel('Name for this passkey').fill('Ana’s phone');
  await page.getByRole('button', { name: 'Create a passkey and sign in' }).click();
  await page.locator('#api-token').waitFor({ state: 'visible' });
  const r = await page.goto(`${base}/payments/${made.insoles.payment_id}/evidence`);
  assert.equal(r.status(), 404);
  assert.ok(r.headers()['content-type'].startsWith('text/html'));
  await page.getByRole('heading', { name: 'Payment not found' }).waitFor();
  const html = await page.content();
  assert.ok(!html.includes('"code"') && !html.includes('purser-evidence'), 'a page, not JSON');
  await shot(page, 'bills-evidence-not-found-phone');
  const junk = await page.goto(`${base}/payments/not-a-payment/evidence`);
  assert.equal(junk.status(), 404);
  // Ana's own bill is empty.
  await page.goto(`${base}/bills`);
  assert.equal(await page.locator('#bill tbody tr').count(), 0);
  await ana.context.close();
  const anon = await fetch(`${base}/payments/${made.insoles.payment_id}/evidence`, { redirect: 'manual' });
  assert.equal(anon.status, 303);
  assert.equal(anon.headers.get('location'), '/signin');
  const anonCsv = await fetch(`${base}/bills.csv`, { redirect: 'manual' });
  assert.equal(anonCsv.status, 303);
});

test('the bill fits a 375-px phone, works by keyboard and reads in Chinese', async () => {
  const { page } = mei;
  await page.setViewportSize(DESKTOP);
  await page.goto(`${base}/bills`);
  await shot(page, 'bills-desktop');
  await page.setViewportSize(PHONE);
  await page.goto(`${base}/bills`);
  await fitsWidth(page);
  const box = await page.getByRole('img', { name: 'Spending per day in CNY' }).boundingBox();
  assert.ok(box.width <= PHONE.width && box.width >= 250, `chart ${box.width}px wide`);
  await shot(page, 'bills-phone');
  // Keyboard: the filter's first field is reachable with Tab.
  let reached = false;
  for (let i = 0; i < 15 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.id === 'f-agent_id');
  }
  assert.ok(reached, 'the agent filter is reachable by keyboard');
  await page.goto(`${base}/bills?lang=zh`);
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-Hans');
  await page.getByRole('heading', { name: '账单', level: 1 }).waitFor();
  await page.getByRole('img', { name: '每日支出（CNY）' }).waitFor();
  await fitsWidth(page);
  await shot(page, 'bills-zh-phone');
  await page.goto(`${base}/bills?lang=en`);
  assert.deepEqual(w.cspErrors, [], 'no Content-Security-Policy violation');
});
