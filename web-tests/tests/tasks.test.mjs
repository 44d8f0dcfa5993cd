// Live tasks in a real browser: the list of the agents' tasks, a task's timeline, and events
// arriving on the open page over server-sent events (no reload); the events stream's
// refusals, resumption (Last-Event-ID), and its end when the session ends.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPurser, shot, fitsWidth, yuan, PHONE, DESKTOP } from '../lib/harness.mjs';

let w;
let base;
let fx;
let mei; // Mei's signed-in phone

const TASK = 'task-hiking-boots';

before(async () => {
  w = await startPurser(['--pending', '3']);
  ({ base, fx } = w);
  mei = await w.signedIn(fx.mei, PHONE);
});

after(async () => {
  if (w) await w.stop();
});

/// The agent pays through Purser as a real agent would (signed requests), for `task`.
function pay(task, title, amount) {
  const out = w.purser([
    'dev', 'agent', 'pay', '--server', w.direct, '--key', fx.agent.key_file, '--user', fx.mei.user_id,
    '--mandate', fx.mandate_id, '--merchant', fx.merchant_id, '--task', task, '--title', title,
    '--amount', String(amount),
  ]);
  return JSON.parse(out);
}

/// The `Cookie` header of a browser context (its session and CSRF cookies).
async function cookieHeader(context) {
  return (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
}

/// Read a text/event-stream until `done(text)` or `ms` pass; the text and whether the server
/// ended the stream.
async function readStream(url, headers, ms, done = () => false) {
  const ctl = new AbortController();
  const r = await fetch(url, { headers, signal: ctl.signal });
  const out = { status: r.status, type: r.headers.get('content-type'), text: '', ended: false };
  if (!r.ok) { out.text = await r.text(); return out; }
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  const until = Date.now() + ms;
  try {
    while (Date.now() < until && !done(out.text)) {
      const chunk = await Promise.race([
        reader.read(),
        new Promise((ok) => setTimeout(() => ok({ timeout: true }), Math.max(1, until - Date.now()))),
      ]);
      if (chunk.timeout) break;
      if (chunk.done) { out.ended = true; break; }
      out.text += dec.decode(chunk.value, { stream: true });
    }
  } finally {
    ctl.abort();
  }
  return out;
}

const ids = (text) => [...text.matchAll(/^id: ?(.*)$/gm)].map((m) => m[1]);

async function liveStreams() {
  const m = await (await fetch(`${w.direct}/metrics`)).text();
  return Number(/^purser_live_streams (\d+)$/m.exec(m)?.[1]);
}

test('Mei sees Trail Scout’s task, and its timeline shows the payments waiting for her', async () => {
  const { page } = mei;
  await page.goto(`${base}/tasks`);
  await page.getByRole('heading', { level: 1, name: 'Live tasks' }).waitFor();
  const task = page.locator('#tasks li').filter({ hasText: TASK });
  assert.equal(await task.count(), 1, 'the fixture’s task is listed once');
  const text = await task.textContent();
  assert.match(text, /Trail Scout/, 'with its agent');
  assert.match(text, /Payment asked — waiting for you/, 'what it is doing, in words');
  assert.match(text, /nothing paid yet/);
  const held = fx.pending.reduce((s, p) => s + p.amount, 0);
  assert.match(text, new RegExp(`${yuan(held).replace(/[.$]/g, '\\$&')} held`), 'what is held for it');
  assert.match(text, /live/);
  assert.match(text, /(just now|minutes? ago)/, 'when it last did something');
  await fitsWidth(page);
  await shot(page, 'tasks-phone');

  await page.getByRole('link', { name: new RegExp(TASK) }).click();
  await page.waitForURL(`${base}/tasks/${TASK}`);
  await page.getByRole('heading', { level: 1, name: `Task ${TASK}` }).waitFor();
  const entries = page.locator('#timeline li');
  assert.equal(await entries.count(), fx.pending.length, 'one event per payment so far');
  for (const p of fx.pending) {
    const e = entries.filter({ hasText: p.title });
    assert.equal(await e.count(), 1, `${p.title} is on the timeline`);
    const t = await e.textContent();
    assert.match(t, /Payment asked — waiting for you/);
    assert.ok(t.includes(yuan(p.amount)), `${t} shows ${yuan(p.amount)}`);
    assert.match(t, /Trailhead/, 'and the merchant by name');
    assert.equal(await e.getByRole('link', { name: 'Review and answer' }).getAttribute('href'), p.path,
      'a payment waiting for Mei links to its confirmation page');
  }
  assert.equal(await page.locator('#timeline').getAttribute('aria-live'), 'polite');
  await fitsWidth(page);
  await shot(page, 'task-timeline-phone');
});

test('a payment made while the timeline is open appears on it without a reload', async () => {
  const { page } = mei;
  await page.goto(`${base}/tasks/${TASK}`);
  const before = await page.locator('#timeline li').count();
  await page.evaluate(() => { window.__sameDocument = true; });
  // Let the page's stream connect before the agent pays.
  await page.waitForTimeout(1000);
  const paid = pay(TASK, 'Trailmaster Hiking Boots', 19900);
  assert.equal(paid.status, 'approved', JSON.stringify(paid));
  const added = page.locator('#timeline li').filter({ hasText: 'Payment approved within your mandate' });
  await added.waitFor({ timeout: 10_000 });
  assert.ok((await added.textContent()).includes(yuan(19900)));
  assert.match(await added.textContent(), /Trailmaster Hiking Boots/);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  assert.equal(await page.locator('#timeline li').count(), before + 1, 'added once');
  // Reloading shows the same, without the script's help.
  await page.reload();
  assert.equal(await page.locator('#timeline li').count(), before + 1);

  // A payment for a new task shows up on the list.
  const other = pay('task-tent', 'Hiking Boots for the tent trip', 15000);
  assert.equal(other.status, 'approved', JSON.stringify(other));
  await page.goto(`${base}/tasks`);
  const tasks = page.locator('#tasks li');
  assert.match(await tasks.first().textContent(), /task-tent/, 'newest activity first');
  assert.match(await tasks.first().textContent(), /Payment approved within your mandate/);
  assert.ok((await tasks.first().textContent()).includes(`${yuan(15000)} held`));
  await fitsWidth(page);
});

test('the events stream resumes after Last-Event-ID, ends at sign-out, and leaves nothing open', async () => {
  const d = await w.signedIn(fx.mei, DESKTOP);
  const cookie = await cookieHeader(d.context);
  const url = `${base}/tasks/${TASK}/events`;
  const timeline = (await w.api(`/v1/tasks/${TASK}`, fx.mei.api_token)).events;
  assert.ok(timeline.length >= 2);

  // The whole timeline when nothing is known yet, as rendered entries with event ids.
  const all = await readStream(url, { cookie }, 5000, (t) => ids(t).length >= timeline.length);
  assert.equal(all.status, 200);
  assert.match(all.type, /^text\/event-stream/);
  assert.deepEqual(ids(all.text), timeline.map((e) => e.id));
  assert.match(all.text, /event: ?timeline/);
  assert.match(all.text, /data: ?<li class="ev/);

  // Resuming after the newest: it is not sent again, nor anything before the re-read window,
  // and what happens next arrives.
  const last = timeline[timeline.length - 1];
  const known = new Set(timeline.map((e) => e.id));
  const resumed = readStream(url, { cookie, 'last-event-id': last.id }, 8000,
    (t) => ids(t).some((id) => !known.has(id)));
  await new Promise((r) => setTimeout(r, 800));
  const paid = pay(TASK, 'Summit Ascent Hiking Boots', 12900);
  const got = await resumed;
  assert.equal(got.status, 200);
  const sent = ids(got.text);
  assert.ok(!sent.includes(last.id), 'the last event the client had is not sent again');
  for (const e of timeline) {
    if (e.at_ms < last.at_ms - 5000) assert.ok(!sent.includes(e.id), `${e.id} is older than where it left off`);
  }
  assert.ok(sent.some((id) => !known.has(id)), 'the new event arrives');
  if (paid.status === 'declined') {
    // The declined payment reads with its reason in words.
    assert.match(got.text, /Payment declined/);
    assert.ok(got.text.includes(paid.decline.message.replace(/\.$/, '')), got.text);
  } else {
    assert.match(got.text, /Summit Ascent Hiking Boots/);
  }

  // Signing out ends an open stream.
  await d.page.goto(`${base}/tasks/${TASK}`);
  const open = readStream(url, { cookie }, 15_000);
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(await liveStreams() >= 1, 'the stream is counted while open');
  await d.page.getByRole('button', { name: 'Sign out' }).click();
  await d.page.waitForURL(`${base}/signin`);
  const ended = await open;
  assert.equal(ended.ended, true, 'the server ended the stream after sign-out');
  const refused = await fetch(url, { headers: { cookie } });
  assert.equal(refused.status, 401, 'and refuses the reconnect');
  await d.context.close();

  // A client that goes away leaves no stream behind.
  const gone = await readStream(url, { cookie: await cookieHeader(mei.context) }, 1500);
  assert.equal(gone.status, 200);
  const until = Date.now() + 25_000;
  let n = await liveStreams();
  while (n > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 500));
    n = await liveStreams();
  }
  assert.equal(n, 0, 'every stream was dropped once its client left');
});

test('another person’s task is “not found”, exactly like a task that does not exist', async () => {
  const d = await w.device(PHONE);
  const { page } = d;
  await page.goto(`${base}/signup`);
  await page.getByLabel('Setup token or API token').fill(fx.ana.setup_token);
  await page.getByRole('button', { name: 'Create a passkey and sign in' }).click();
  await page.locator('#api-token').waitFor({ state: 'visible' });

  const theirs = await page.goto(`${base}/tasks/${TASK}`);
  assert.equal(theirs.status(), 404);
  assert.match(theirs.headers()['content-type'], /^text\/html/, 'a page, not JSON');
  await page.getByRole('heading', { name: 'Task not found' }).waitFor();
  const shown = await page.locator('main').textContent();
  assert.ok(!/Trail Scout|¥/.test(shown), 'nothing of Mei’s task shows');
  const nobody = await page.goto(`${base}/tasks/task-nobody-has`);
  assert.equal(nobody.status(), 404);
  assert.equal(await page.locator('main').textContent(), shown, 'the same page as for a task no one has');
  const list = await page.goto(`${base}/tasks`);
  assert.equal(list.status(), 200);
  assert.ok(!(await page.locator('main').textContent()).includes(TASK), 'Mei’s task is not on Ana’s list');

  // Her session cannot stream Mei's task either; no session at all is refused.
  const r = await fetch(`${base}/tasks/${TASK}/events`, { headers: { cookie: await cookieHeader(d.context) } });
  assert.equal(r.status, 404);
  const none = await fetch(`${base}/tasks/${TASK}/events`);
  assert.equal(none.status, 401);
  assert.equal((await none.json()).code, 'session_required');
  assert.notEqual(none.headers.get('content-type'), 'text/event-stream');
  // Pages without a session send the person to sign in.
  const anon = await fetch(`${base}/tasks/${TASK}`, { redirect: 'manual' });
  assert.equal(anon.status, 303);
  assert.equal(anon.headers.get('location'), '/signin');
  await d.context.close();
});

test('Live tasks in Chinese, and on a phone, with no CSP violation', async () => {
  const { page } = mei;
  await page.goto(`${base}/tasks?lang=zh`);
  await page.getByRole('heading', { level: 1, name: '实时任务' }).waitFor();
  assert.match(await page.locator('#tasks').textContent(), /代理请求付款|在您的授权范围内已批准付款/);
  await fitsWidth(page);
  await page.goto(`${base}/tasks/${TASK}`);
  await page.getByRole('heading', { level: 2, name: '时间线' }).waitFor();
  await fitsWidth(page);
  await shot(page, 'task-timeline-phone-zh');
  await page.goto(`${base}/tasks?lang=en`);
  assert.deepEqual(w.cspErrors, []);
});
