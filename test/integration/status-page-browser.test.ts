// The status page in a real browser (Debian's chromium via playwright-core): a `run` daemon (child
// process) with a slow bandwidth limit against the simulator with faults (a 404, a hostile key, a
// path blocked by a foreign file). The page's progress bars advance, its counts match
// `status --json`, the failed assets show their reason (the hostile key as text, never as markup),
// "retry failed" needs the token and re-queues, the chart has points, and without JavaScript the
// server-rendered page still shows the state and the counts; at 390 px and 1280 px a person reads
// the headline and counts of `status`, the problems near the top, UTC times, keys broken at "/" and
// "_", a chart with a scale, and nothing wider than the screen (issue 25 items 5 and 10).
// Screenshots go to test-artifacts/ (git-ignored; docs/status-page.png is a copy of
// status-page-readme.png). Build first: `npx tsc -p .`.
// The page.evaluate and $$eval callbacks run in the browser: their types are the DOM's.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { launchChromium, requireChromium } from '../helpers/browser.js';
import { configFlags, credentials, killAll, spawnCli, type Proc } from '../helpers/fault-daemon.js';
import { REPO_ROOT, runCli, tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';

const run = requireChromium();
const seed = testSeed();
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const TOKEN = randomBytes(24).toString('base64url');
const T0 = Date.UTC(2026, 10, 1);
const GONE = 'products/lst/2026/withdrawn.tif';
const HOSTILE = 'evil/../<script>window.__xss=1</script>.bin';
const SAFE_ODD = 'odd/<img src=x onerror="window.__xss2=1">.bin';
const BLOCKED = 'blocked/scene.tif';

let sim: Simulator;
let dirs: TempDirs;
let args: string[];
let daemon: Proc;
let url: string;
let browser: Browser;

type Json = Record<string, unknown> & { jobs: Record<string, number> & Record<'queued' | 'running' | 'done' | 'failed' | 'gone', number>; completeness: { summary: string; done: number; total: number } };

async function statusJson(): Promise<Json> {
  const r = await runCli(['status', '--json', ...args], { env: credentials(sim) });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Json;
}

async function apiStatus(auth = true): Promise<Json & Record<string, any>> {
  const r = await fetch(`${url}/api/status`, { headers: auth ? { authorization: `Bearer ${TOKEN}` } : {} });
  expect(r.status).toBe(200);
  return (await r.json()) as Json;
}

async function login(page: Page): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Token').fill(TOKEN);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForSelector('#overall-state');
}

describe.runIf(run)('the status page in chromium', () => {
  beforeAll(async () => {
    await fsp.mkdir(ARTIFACTS, { recursive: true });
    const assets = [
      ...Array.from({ length: 3 }, (_, i) => ({ key: `products/lst/2026/big-${i}.tif`, size: 1536 * 1024 + i, lastModified: T0 + i * 1000, seed: `big-${i}` })),
      ...Array.from({ length: 8 }, (_, i) => ({ key: `products/ndvi/2026/tile-${i}.tif`, size: 96 * 1024 + i * 512, lastModified: T0 + 10_000 + i * 1000, seed: `tile-${i}` })),
      { key: GONE, size: 1000, lastModified: T0 + 30_000 },
      { key: HOSTILE, size: 100, lastModified: T0 + 31_000 },
      { key: SAFE_ODD, size: 2000, lastModified: T0 + 32_000 },
      { key: BLOCKED, size: 5000, lastModified: T0 + 33_000 },
    ];
    sim = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(assets), faults: { notFoundKeys: [GONE] }, seed });
    dirs = await tempDirs('status-page');
    // A foreign file where a directory must go: BLOCKED fails (path_conflict) until it is removed.
    await fsp.mkdir(dirs.mirror, { recursive: true });
    await fsp.writeFile(path.join(dirs.mirror, 'blocked'), 'not a directory');
    args = await configFlags(dirs.root, {
      sim,
      mirror: dirs.mirror,
      state: dirs.state,
      config: { http: { enabled: true, listen: '127.0.0.1:0' }, sync: { concurrency: 2, bandwidth: '640KiB/s', quickRetries: 0, schedule: '0 0 1 1 *' } },
    });
    daemon = spawnCli(['run', ...args], { ...credentials(sim), CONSTELLR_SYNC_HTTP_TOKEN: TOKEN });
    const line = await daemon.waitLog((l) => typeof l.msg === 'string' && l.msg.startsWith('ops endpoint listening'), 20_000, 'the endpoint');
    url = String(line.url);
    browser = await launchChromium();
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(`status-page-browser: failed with TEST_SEED=${seed}`);
  });
  afterAll(async () => {
    await browser?.close();
    daemon?.kill('SIGTERM');
    await daemon?.exited;
    await killAll();
    await sim?.close();
    await dirs?.cleanup();
  });

  it('is protected by the token: login form, 401 for the API, 401 for actions without it; /healthz stays open', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const page = await fetch(url);
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('name="token"');
    expect((await fetch(`${url}/api/status`)).status).toBe(401);
    expect((await fetch(`${url}/api/status`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const refused = await fetch(`${url}/api/actions/retry-failed`, { method: 'POST' });
    expect(refused.status).toBe(401);
    const wrong = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: 'nope' }) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
  });

  it('shows downloads in flight whose progress bars advance, mid-sync (screenshot)', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await ctx.newPage();
    // the page's module runs under its strict policy (script-src 'self'): no violation, no error
    const refused: string[] = [];
    page.on('pageerror', (e) => refused.push(e.message));
    page.on('console', (m) => /Content Security Policy|Refused to/.test(m.text()) && refused.push(m.text()));
    await login(page);
    // the page's module has run (it marks the body 'js'): login() returns once the server-rendered
    // page is there, which can be before its deferred module ran; a module that never runs times out
    await page.waitForFunction(() => document.body.classList.contains('js'), undefined, { timeout: 30_000 });
    // one large download's bar, read twice: its aria-valuenow grows between refreshes
    const first = await waitUntil(
      async () => {
        const bars = await page.$$eval('#inflight [role=progressbar]', (els) => els.map((e) => ({ key: e.getAttribute('aria-label') ?? '', now: Number(e.getAttribute('aria-valuenow')), max: Number(e.getAttribute('aria-valuemax')) })));
        return bars.find((b) => b.key.includes('big-') && b.now > 0 && b.now < b.max) ?? null;
      },
      30_000,
      100,
      'a large download in flight with some bytes',
    );
    const runningNow = await page.evaluate(() => ({
      chip: Number(document.querySelector('#now-body .count[data-state=running] .n')?.textContent),
      bars: document.querySelectorAll('#inflight [role=progressbar]').length,
    }));
    expect(runningNow.bars).toBeGreaterThanOrEqual(1);
    expect(runningNow.chip, 'the running count beside the progress bars').toBe(runningNow.bars);
    // the README's picture (docs/status-page.png is a copy of one of these): the top of the page
    await page.setViewportSize({ width: 1200, height: 860 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-readme.png') });
    await page.setViewportSize({ width: 1280, height: 1000 });
    // and so it stays, refresh after refresh (one DOM, one reading)
    for (let i = 0; i < 3; i++) {
      const before = Number(await page.evaluate(() => document.body.dataset.refreshes ?? 0));
      await waitUntil(async () => Number(await page.evaluate(() => document.body.dataset.refreshes ?? 0)) > before, 10_000, 50, 'a live refresh');
      const { chip, bars } = await page.evaluate(() => ({
        chip: Number(document.querySelector('#now-body .count[data-state=running] .n')?.textContent),
        bars: document.querySelectorAll('#inflight [role=progressbar]').length,
      }));
      expect(chip, `refresh ${i}: the running count beside ${bars} progress bars`).toBe(bars);
    }
    await waitUntil(
      async () => {
        const now = await page
          .$$eval('#inflight [role=progressbar]', (els, key) => els.filter((e) => e.getAttribute('aria-label') === key).map((e) => Number(e.getAttribute('aria-valuenow'))), first.key)
          .catch(() => [] as number[]);
        // advanced, or finished (then the bar is gone and the key is among the recent completions)
        return (now[0] !== undefined && now[0] > first.now) || (now.length === 0 && (await page.locator('#recent').textContent())?.includes(first.key.replace('download progress of ', '')));
      },
      30_000,
      100,
      `the progress bar of ${first.key} to advance`,
    );
    const meta = await page.locator('#inflight .meta').first().textContent().catch(() => '');
    if (meta) expect(meta).toMatch(/\/s · ETA|measuring speed/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-mid-sync.png'), fullPage: true });
    expect(refused).toEqual([]);
    await ctx.close();
  });

  it('lists failed and gone assets with their reasons; the hostile key is text, never markup', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await ctx.newPage();
    await login(page);
    await waitUntil(async () => ((await page.locator('#problems-body').textContent()) ?? '').includes(BLOCKED), 40_000, 200, 'the blocked asset among the problems');
    const rows = await page.$$eval('#problems-table tbody tr', (trs) => trs.map((tr) => ({ state: tr.getAttribute('data-state'), cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '') })));
    const blocked = rows.find((r) => r.cells[0] === BLOCKED);
    expect(blocked?.state).toBe('failed');
    expect(blocked?.cells[2]).toContain('path_conflict');
    expect(blocked?.cells[3]).toMatch(/needs "blocked" to be a directory/);
    await waitUntil(async () => ((await page.locator('#problems-body').textContent()) ?? '').includes(HOSTILE), 20_000, 200, 'the hostile key as text');
    const hostile = (await page.$$eval('#problems-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')))).find((c) => c[0] === HOSTILE);
    expect(hostile?.[2]).toContain('unsafe_key');
    await waitUntil(async () => ((await page.locator('#problems-body').textContent()) ?? '').includes(GONE), 20_000, 200, 'the gone asset');
    // the filter narrows to one state (live, without a reload)
    await page.getByLabel('State', { exact: true }).selectOption('gone');
    await waitUntil(async () => (await page.$$eval('#problems-table tbody tr', (trs) => trs.map((t) => t.getAttribute('data-state')))).every((s) => s === 'gone'), 10_000, 100, 'filtered to gone');
    expect(await page.locator('#problems-table tbody tr').count()).toBe(1);
    await page.getByLabel('State', { exact: true }).selectOption('');
    // nothing the keys carried ran or was parsed as markup
    expect(await page.evaluate(() => ({ a: (window as unknown as Record<string, unknown>).__xss, b: (window as unknown as Record<string, unknown>).__xss2, scripts: document.scripts.length, imgs: document.images.length }))).toEqual({
      a: undefined,
      b: undefined,
      scripts: 1,
      imgs: 0,
    });
    await ctx.close();
  });

  it('"retry failed" is refused without the token and re-queues the failed assets with it', async () => {
    // the cause is fixed first, as an operator would
    await fsp.rm(path.join(dirs.mirror, 'blocked'));
    const noAuth = await fetch(`${url}/api/actions/retry-failed`, { method: 'POST' });
    expect(noAuth.status).toBe(401);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await ctx.newPage();
    await login(page);
    // the session cookie alone (a cross-site form) is not enough: the page's header is required
    // the page's module has run (it hides the no-JavaScript note after wiring the buttons): login()
    // returns once the server-rendered page is there, which can be before the module ran
    await page.locator('#nojs-note').waitFor({ state: 'hidden' });
    const cookie = (await ctx.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    expect((await fetch(`${url}/api/actions/retry-failed`, { method: 'POST', headers: { cookie } })).status).toBe(403);
    expect(((await statusJson()).jobs.failed ?? 0)).toBeGreaterThanOrEqual(2);
    // from the keyboard: Tab reaches the button (the skip link first), Enter presses it
    let tabs = 0;
    while ((await page.evaluate(() => document.activeElement?.id ?? '')) !== 'retry-failed') {
      expect(++tabs, 'Tab presses to reach "Retry failed"').toBeLessThan(30);
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await waitUntil(async () => /queued again/.test((await page.locator('#action-result').textContent()) ?? ''), 10_000, 50, 'the action result');
    expect(await page.locator('#action-result').textContent()).toMatch(/^[2-9]\d* failed assets queued again$/);
    // BLOCKED is downloaded now; the hostile key fails again (its cause is not fixable)
    await waitUntil(async () => (await apiStatus()).recentCompletions.some((c: { key: string }) => c.key === BLOCKED), 30_000, 200, 'the blocked asset done after the retry');
    await ctx.close();
  });

  it('at the end: the page counts match status --json, the chart has points (screenshots, also phone + dark, and no JavaScript)', async () => {
    const idle = await waitUntil(
      async () => {
        const a = await apiStatus();
        return a.jobs.queued === 0 && a.jobs.running === 0 && a.inFlight.length === 0 ? a : null;
      },
      60_000,
      200,
      'the daemon to finish the inventory',
    );
    expect(idle.jobs).toMatchObject({ done: 13, failed: 1, gone: 1 });
    // /api/status carries the whole status --json document (compared field by field, whatever it holds)
    const cli = await statusJson();
    const api = await apiStatus();
    expect(api.apiVersion).toBe(1);
    // (`now` is when each document was made)
    for (const [k, v] of Object.entries(cli)) if (k !== 'now') expect(api[k], `/api/status field ${k}`).toEqual(v);

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await ctx.newPage();
    await login(page);
    await waitUntil(async () => Number(await page.evaluate(() => document.body.dataset.refreshes ?? 0)) >= 1, 10_000, 50, 'a live refresh');
    const counts = await page.$$eval('#now-body .count', (els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-state'), Number(e.querySelector('.n')?.textContent)])));
    for (const s of ['queued', 'running', 'done', 'failed', 'gone']) expect(counts[s], `page count ${s}`).toBe(cli.jobs[s]);
    expect(await page.locator('#assets-done').textContent()).toBe(String(cli.jobs.done));
    expect(await page.locator('#overall-state').getAttribute('data-state')).toBe('problems');
    const chart = await page.locator('#chart').getAttribute('data-points');
    expect(Number(chart)).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#chart circle.pt').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#chart polyline.tp').getAttribute('points')).toMatch(/^[\d.]+,[\d.]+/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page-end.png'), fullPage: true });
    await ctx.close();

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', deviceScaleFactor: 1 });
    const p2 = await phone.newPage();
    await login(p2);
    // nothing sticks out sideways on a phone
    expect(await p2.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await p2.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(15, 17, 21)');
    await p2.screenshot({ path: path.join(ARTIFACTS, 'status-page-phone-dark.png'), fullPage: true });
    await phone.close();

    const nojs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 1000 } });
    const p3 = await nojs.newPage();
    await login(p3);
    expect(await p3.locator('#overall-state').textContent()).toBe(`Mirror ${cli.completeness.summary}`);
    const staticCounts = await p3.$$eval('#now-body .count', (els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-state'), Number(e.querySelector('.n')?.textContent)])));
    for (const s of ['queued', 'running', 'done', 'failed', 'gone']) expect(staticCounts[s], `server-rendered count ${s}`).toBe(cli.jobs[s]);
    expect(await p3.locator('#assets-total').textContent()).toBe(String(Object.values(cli.jobs).reduce((a, b) => a + b, 0)));
    expect(await p3.locator('#live').textContent()).toMatch(/server-rendered/);
    // the actions need the script: hidden without it, with a note; logging out is a plain form
    expect(await p3.locator('#retry-failed').isVisible()).toBe(false);
    expect(await p3.getByText('need JavaScript').isVisible()).toBe(true);
    expect(await p3.getByRole('button', { name: 'Log out' }).isVisible()).toBe(true);
    // the filter works without JavaScript too (a GET form, filtered on the server)
    await p3.getByLabel('State', { exact: true }).selectOption('failed');
    await p3.getByRole('button', { name: 'Filter' }).click();
    await p3.waitForURL(/problems=failed/);
    expect(await p3.$$eval('#problems-table tbody tr', (trs) => trs.map((t) => t.getAttribute('data-state')))).toEqual(['failed']);
    await p3.screenshot({ path: path.join(ARTIFACTS, 'status-page-no-js.png'), fullPage: true });
    await nojs.close();
  });

  it('at 390 px and 1280 px: the headline and counts of status, problems near the top, a UTC clock, keys broken at "/" and "_", a y-axis scale, no past "next retry", nothing wider than the screen', async () => {
    const api = await apiStatus();
    const peak = Math.max(0, ...api.history.points.map((p: { bytesPerSecond: number }) => p.bytesPerSecond));
    for (const viewport of [
      { width: 390, height: 844 },
      { width: 1280, height: 900 },
    ]) {
      const at = `at ${viewport.width} px`;
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
      const page = await ctx.newPage();
      await login(page);
      await waitUntil(async () => Number(await page.evaluate(() => document.body.dataset.refreshes ?? 0)) >= 1, 10_000, 50, 'a live refresh');
      // Compare once nothing is to do and `status` read the same before and after the page. The
      // daemon polls only at its start (schedule: once a year): a poll lists the gone asset again and
      // queues it, and the page says "syncing, 1 to do" for a few seconds; with a */5 schedule a poll
      // whose minute came during the reads below failed them.
      const cli = await waitUntil(
        async () => {
          const before = await statusJson();
          const headline = await page.locator('#overall-state').textContent();
          const after = await statusJson();
          const still = JSON.stringify(before.jobs) === JSON.stringify(after.jobs) && before.jobs.queued + before.jobs.running === 0;
          return still && headline === `Mirror ${after.completeness.summary}` ? after : null;
        },
        30_000,
        250,
        `${at}: the page's headline to say what status says, nothing to do`,
      );
      // the headline and the count say what `status` says (1 failed and 1 gone at this point)
      expect(await page.locator('#overall-state').textContent(), at).toBe(`Mirror ${cli.completeness.summary}`);
      expect(cli.completeness.summary).toBe('incomplete: 1 failed, 1 gone');
      expect(await page.locator('#assets-done').textContent(), at).toBe(String(cli.completeness.done));
      expect(await page.locator('#assets-total').textContent(), at).toBe(String(cli.completeness.total));
      const counts = await page.$$eval('#now-body .count', (els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-state'), Number(e.querySelector('.n')?.textContent)])));
      for (const st of ['queued', 'running', 'done', 'failed', 'gone']) expect(counts[st], `${at}: count ${st}`).toBe(cli.jobs[st]);
      // what went wrong is named on the first screen, and the Problems section comes before the history
      const line = page.locator('#problem-line');
      expect(await line.textContent(), at).toBe('Problems: 1 failed, 1 gone (see Problems)');
      // Measured in one turn of the page's script: every refresh (2 s) replaces #problem-line with a
      // new element, and a locator's boundingBox() that met the swap answered null (1-3 in 500 here).
      const box = await page.evaluate(() => {
        const rect = (id: string) => {
          const r = document.getElementById(id)?.getBoundingClientRect();
          return r ? { top: r.top, bottom: r.bottom, height: r.height } : null;
        };
        return { line: rect('problem-line'), problems: rect('problems'), history: rect('history') };
      });
      expect(box.line?.height, `${at}: the problem line is shown`).toBeGreaterThan(0);
      expect(box.line!.bottom, `${at}: the problem line on the first screen`).toBeLessThanOrEqual(viewport.height);
      expect(box.problems!.top, at).toBeLessThan(box.history!.top);
      // the header's time: UTC, 24-hour, like every other time on the page
      expect(await page.locator('#live').textContent(), at).toMatch(/^live · updated \d{2}:\d{2}:\d{2} UTC$/);
      // "Next retry" of the gone (and failed) rows: no time, certainly none in the past
      const next = await page.$$eval('#problems-table tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-state'), tr.querySelector('td[data-label="Next retry"]')?.textContent ?? null]));
      expect(Object.fromEntries(next), at).toEqual({ gone: 'none: the API no longer serves it', failed: 'none until "Retry failed"' });
      // the chart's y-axis: a round top at or above the peak, its middle, and 0; files per minute on the right
      const left = await page.$$eval('#chart-y-left span', (els) => els.map((e) => e.textContent));
      expect(left, at).toHaveLength(3);
      expect(left[0], at).toMatch(/^\d+ (B|KiB|MiB|GiB)\/s$/);
      expect(left[2], at).toBe('0');
      expect(Number(await page.locator('#chart').getAttribute('data-max-bytes-per-second')), at).toBeGreaterThanOrEqual(peak);
      expect((await page.$$eval('#chart-y-right span', (els) => els.map((e) => e.textContent)))[0], at).toMatch(/^\d+(\.\d)?\/min$/);
      // keys wrap only after "/", "_", "-" or at a space: never in the middle of a name
      const midWord = await page.$$eval('td.key, div.key', (els) =>
        els.flatMap((el) => {
          const chars: { c: string; top: number }[] = [];
          const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode() as Text | null; n; n = walker.nextNode() as Text | null) {
            for (let i = 0; i < n.data.length; i++) {
              const r = document.createRange();
              r.setStart(n, i);
              r.setEnd(n, i + 1);
              const rect = r.getClientRects()[0];
              chars.push({ c: n.data[i]!, top: rect ? rect.top : (chars[chars.length - 1]?.top ?? 0) });
            }
          }
          const bad: string[] = [];
          for (let i = 1; i < chars.length; i++) {
            if (chars[i]!.top > chars[i - 1]!.top + 2 && !/[/_\s-]/.test(chars[i - 1]!.c) && !/\s/.test(chars[i]!.c)) bad.push(`${el.textContent} (before "${chars.slice(i).map((x) => x.c).join('')}")`);
          }
          return bad;
        }),
      );
      expect(midWord, `${at}: keys broken mid-word`).toEqual([]);
      // nothing sticks out sideways
      const overflow = await page.evaluate(() => {
        const w = document.documentElement.clientWidth;
        const over = [...document.querySelectorAll('body *')].filter((e) => {
          const r = e.getBoundingClientRect();
          return r.width > 0 && r.right > w + 0.5;
        });
        return { scroll: document.documentElement.scrollWidth, w, over: over.slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`) };
      });
      expect(overflow.over, `${at}: elements wider than the screen`).toEqual([]);
      expect(overflow.scroll, at).toBeLessThanOrEqual(viewport.width);
      await page.screenshot({ path: path.join(ARTIFACTS, `status-page-${viewport.width}.png`), fullPage: true });
      await ctx.close();
    }
  });
});
