// The status page's section renderers: /api/status data → HTML strings. The same functions run on
// the server (the first paint, and the whole page without JavaScript) and in the browser (live
// updates: page-client.ts imports this module, served as is from dist/). So it imports nothing
// but types: no Node APIs. Every value from the data is passed through esc(): keys and messages
// come from the network and are hostile until proven not.
import type { ApiStatus } from './api.js';

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/**
 * A key as HTML that wraps only where a person would break it: after each `/` and `_` (and at its
 * spaces), never in the middle of a name; a word of more than 24 characters without any of those
 * may break every 16. Each piece is escaped on its own, so no break falls inside an entity.
 */
export function keyHtml(key: string): string {
  return String(key ?? '')
    .split(/(?<=[/_])/)
    .map((part) =>
      part
        .split(/(?<=\s)/)
        .map((w) => (w.length > 24 ? (w.match(/[^]{1,16}/g) ?? [w]).map((p) => esc(p)).join('<wbr>') : esc(w)))
        .join(''),
    )
    .join('<wbr>');
}

/** An ISO time as "12:34:56 UTC" (the page's clock: UTC, 24-hour, like every other time on it). */
export function fmtClock(iso: string): string {
  return `${String(iso).slice(11, 19)} UTC`;
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function fmtSeconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '–';
  if (s < 10) return `${Math.max(0, s).toFixed(1)} s`;
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min ${t % 60} s`;
  if (t < 86400) return `${Math.floor(t / 3600)} h ${Math.floor((t % 3600) / 60)} min`;
  return `${Math.floor(t / 86400)} d ${Math.floor((t % 86400) / 3600)} h`;
}

/** An ISO time as "2026-12-01 22:50:01 UTC (3 min ago)", relative to the document's generatedAt. */
export function fmtTime(iso: string | null, now: string): string {
  if (!iso) return '<span class="muted">never</span>';
  const d = (Date.parse(iso) - Date.parse(now)) / 1000;
  const rel = Math.abs(d) < 1 ? 'now' : d < 0 ? `${fmtSeconds(-d)} ago` : `in ${fmtSeconds(d)}`;
  return `<span class="t"><time datetime="${esc(iso)}" title="${esc(iso)}">${esc(iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC'))}</time> <span class="muted">(${esc(rel)})</span></span>`;
}

export function bar(value: number, max: number, label: string, cls: string): string {
  const pct = max > 0 ? Math.min(100, (value / max) * 100) : value > 0 ? 100 : 0;
  return `<div class="bar ${esc(cls)}" role="progressbar" aria-label="${esc(label)}" aria-valuemin="0" aria-valuemax="${esc(max)}" aria-valuenow="${esc(value)}"><span style="width:${pct.toFixed(1)}%"></span></div>`;
}

export function renderOverall(d: ApiStatus): string {
  const o = d.overall;
  // The one meaning of complete and the one count, as `status` prints them (completeness.ts).
  const c = d.completeness;
  const state = c.state === 'complete' ? 'complete' : c.state === 'syncing' || c.state === 'no_poll' ? 'syncing' : 'problems';
  // What went wrong, named at the top with a link to the Problems section.
  const wrong = [d.lastPoll.failed ? 'the last poll failed' : '', d.catalog?.failing ? 'the STAC catalog cannot be written' : '', c.failed > 0 ? `${c.failed} failed` : '', c.gone > 0 ? `${c.gone} gone` : ''].filter(Boolean);
  const problemLine = wrong.length > 0 ? `<p class="problem-line" id="problem-line">Problems: ${esc(wrong.join(', '))} (<a href="#problems">see Problems</a>)</p>` : '';
  const facts: [string, string][] = [
    ['Ready', o.ready ? '<span class="ok">ready</span>' : `<span class="bad">not ready</span>: ${esc(o.readyReason)}`],
    ['Last successful poll', fmtTime(o.lastSuccessfulPoll, d.generatedAt)],
    ['Next scheduled poll', fmtTime(o.nextPoll, d.generatedAt)],
    ['High-water mark', fmtTime(d.highWaterMark, d.generatedAt)],
    ['Source', `<code>${esc(o.source)}</code>`],
    ['State', `${esc(d.backend)}: <code>${esc(d.store)}</code>`],
    ['Replica', `<code>${esc(d.replica.owner)}</code>${d.replica.poller ? ' (polls)' : ''}`],
  ];
  return (
    `<p class="state state-${state}" id="overall-state" data-state="${state}">Mirror ${esc(c.summary)}</p>` +
    problemLine +
    `<p id="assets-count"><strong id="assets-done">${esc(c.done)}</strong> of <strong id="assets-total">${esc(c.total)}</strong> assets mirrored, ` +
    `<strong>${esc(fmtBytes(o.bytes.done))}</strong> of <strong>${esc(fmtBytes(o.bytes.total))}</strong>` +
    `${o.bytes.unknown > 0 ? ` <span class="muted" id="size-unknown">(size unknown for ${esc(o.bytes.unknown)} asset${o.bytes.unknown === 1 ? '' : 's'})</span>` : ''}</p>` +
    bar(c.done, c.total, 'assets mirrored', 'big') +
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`
  );
}

export function renderNow(d: ApiStatus): string {
  const states = ['queued', 'running', 'done', 'failed', 'gone'] as const;
  const counts = `<ul class="counts" aria-label="Assets by state">${states
    // running: the downloads running now (runningNow), the same reading as the progress bars below
    .map((s) => `<li class="count c-${s}" data-state="${s}"><span class="n">${esc(s === 'running' ? (d.runningNow ?? d.jobs.running) : d.jobs[s])}</span> <span class="l">${s}</span></li>`)
    .join('')}<li class="count c-deleted" data-state="deleted_remote"><span class="n">${esc(d.remoteDeleted)}</span> <span class="l">deleted remotely</span></li></ul>`;
  const pauses =
    d.pauses.length === 0
      ? '<p class="muted" id="pauses">No pauses: downloads run at full speed.</p>'
      : `<ul id="pauses" class="pauses">${d.pauses
          .map((p) => `<li data-reason="${esc(p.reason)}"><strong>${esc(p.reason)}</strong>: ${esc(p.detail)}; ${p.until ? `until ${fmtTime(p.until, d.generatedAt)}` : p.reason === 'bandwidth' ? 'no change within the next 24 h' : 'until it clears'}</li>`)
          .join('')}</ul>`;
  const inflight =
    d.inFlight.length === 0
      ? '<p class="muted" id="inflight">Nothing is downloading right now.</p>'
      : `<ul id="inflight" class="inflight">${d.inFlight
          .map(
            (f) =>
              `<li><div class="key" title="${esc(f.key)}">${keyHtml(f.key)}</div>${bar(f.bytes, f.size ?? 0, `download progress of ${f.key}`, 'dl')}` +
              `<div class="meta">${esc(fmtBytes(f.bytes))} / ${f.size === null ? 'size unknown' : esc(fmtBytes(f.size))} · ${f.etaSeconds === null ? (f.size === null ? `${esc(fmtBytes(f.bytesPerSecond))}/s` : 'measuring speed…') : `${esc(fmtBytes(f.bytesPerSecond))}/s · ETA ${esc(fmtSeconds(f.etaSeconds))}`}</div></li>`,
          )
          .join('')}</ul>`;
  return `${counts}<h3>Pauses</h3>${pauses}<h3>In flight (this replica)</h3>${inflight}`;
}

/** The smallest 1, 2 or 5 × 10^n (times `unit`) at or above v: the top of a readable axis. */
export function niceCeil(v: number, unit: number): number {
  const x = Math.max(v, 1e-9) / unit;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  const m = [1, 2, 5, 10].find((k) => k * p >= x * (1 - 1e-9)) ?? 10;
  return m * p * unit;
}

export function renderChart(d: ApiStatus): string {
  const pts = d.history.points;
  const w = 600;
  const h = 160;
  const pad = 4;
  const peak = pts.reduce((a, p) => Math.max(a, p.bytesPerSecond), 0);
  const peakF = pts.reduce((a, p) => Math.max(a, p.filesPerMinute), 0);
  // The axes' tops: a round number of bytes in the unit fmtBytes would print (1, 2, 5 × 10^n KiB…).
  let unit = 1;
  while (peak >= unit * 1024 && unit < 1024 ** 4) unit *= 1024;
  const maxB = niceCeil(Math.max(peak, 1024), unit);
  const maxF = niceCeil(Math.max(peakF, 1), 1);
  const n = Math.max(1, pts.length - 1);
  const x = (i: number) => (pts.length === 1 ? w / 2 : pad + (i * (w - 2 * pad)) / n);
  const y = (v: number, m: number) => h - pad - (v / m) * (h - 2 * pad);
  const line = (key: 'bytesPerSecond' | 'filesPerMinute', m: number) => pts.map((p, i) => `${x(i).toFixed(1)},${y(p[key], m).toFixed(1)}`).join(' ');
  const summary = `Throughput over the last ${pts.length} buckets of ${d.history.bucketSeconds} s; peak ${fmtBytes(peak)}/s`;
  const ticks = [1, 0.5, 0];
  // HTML labels placed at the grid lines' heights (text inside a stretched SVG would be distorted).
  const axis = (side: string, label: (f: number) => string) =>
    `<div class="yaxis y-${side}" id="chart-y-${side}" aria-hidden="true">${ticks.map((f) => `<span style="top:${((y(f, 1) / h) * 100).toFixed(1)}%">${esc(label(f))}</span>`).join('')}</div>`;
  const fpm = (v: number) => (v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1));
  return (
    `<div class="chart">${axis('left', (f) => (f === 0 ? '0' : `${fmtBytes(maxB * f).replace('.0 ', ' ')}/s`))}` +
    `<svg id="chart" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(summary)}" data-points="${pts.length}" data-max-bytes-per-second="${esc(maxB)}" data-max-files-per-minute="${esc(maxF)}">` +
    `<title>${esc(summary)}</title>` +
    ticks.map((f) => `<line class="grid" x1="0" x2="${w}" y1="${y(f, 1).toFixed(1)}" y2="${y(f, 1).toFixed(1)}"/>`).join('') +
    (pts.length > 0
      ? `<polyline class="tp" fill="none" points="${line('bytesPerSecond', maxB)}"/><polyline class="fpm" fill="none" points="${line('filesPerMinute', maxF)}"/>` +
        pts.map((p, i) => (p.bytes > 0 ? `<circle class="pt" r="2.5" cx="${x(i).toFixed(1)}" cy="${y(p.bytesPerSecond, maxB).toFixed(1)}"/>` : '')).join('')
      : '') +
    `</svg>${axis('right', (f) => `${fpm(maxF * f)}${f === 1 ? '/min' : ''}`)}` +
    `${pts.length > 0 ? `<p class="axis"><span>${esc(pts[0]!.t.slice(11, 19))} UTC</span><span>now</span></p>` : ''}</div>` +
    `<p class="legend"><span class="li"><span class="sw tp"></span> throughput, left scale (peak ${esc(fmtBytes(peak))}/s)</span> <span class="li"><span class="sw fpm"></span> files per minute, right scale (peak ${esc(fpm(peakF))})</span></p>`
  );
}

export function renderHistory(d: ApiStatus): string {
  const recent =
    d.recentCompletions.length === 0
      ? '<p class="muted">No completions yet in this process.</p>'
      : `<table id="recent"><caption>Recent completions (this replica)</caption><thead><tr><th scope="col">Key</th><th scope="col">Size</th><th scope="col">Took</th><th scope="col">At</th></tr></thead><tbody>${d.recentCompletions
          .map((c) => `<tr><td class="key" data-label="Key">${keyHtml(c.key)}</td><td class="num" data-label="Size">${esc(fmtBytes(c.bytes))}</td><td class="num" data-label="Took">${esc(fmtSeconds(c.durationMs / 1000))}</td><td data-label="At">${fmtTime(c.at, d.generatedAt)}</td></tr>`)
          .join('')}</tbody></table>`;
  return `<div class="cols"><div>${renderChart(d)}</div><div>${recent}</div></div>`;
}

/** When a problem is tried again: a time only for a retry still to come, never one in the past. */
export function nextRetry(x: ApiStatus['problems']['items'][number], now: string): string {
  if (x.state === 'gone') return '<span class="muted">none: the API no longer serves it</span>';
  if (x.state === 'failed') return '<span class="muted">none until "Retry failed"</span>';
  if (x.nextRetry && Date.parse(x.nextRetry) > Date.parse(now)) return fmtTime(x.nextRetry, now);
  return 'due now';
}

export function renderProblems(d: ApiStatus): string {
  const p = d.problems;
  const pollError = d.lastPoll.error
    ? `<p class="poll-error" id="poll-error"><strong>Last poll failed</strong> ${fmtTime(d.lastPoll.errorAt, d.generatedAt)}: <span class="bad">[${esc(d.lastPoll.errorClass)}]</span> ${esc(d.lastPoll.error)}</p>`
    : '';
  // The catalog writer's error (status: CATALOG FAILED): downloads go on, the write is retried.
  const cat = d.catalog?.failing ? d.catalog : null;
  const catalogError = cat
    ? `<p class="catalog-error" id="catalog-error"><strong>STAC catalog not written</strong> since ${fmtTime(cat.since, d.generatedAt)}: <span class="bad">[${esc(cat.errorClass)}]</span> ${esc(cat.error)}${cat.path ? ` (<code>${esc(cat.path)}</code>)` : ''}; downloads go on and the write is tried again</p>`
    : '';
  if (p.items.length === 0)
    return `${pollError}${catalogError}<p class="muted" id="problems-empty">${p.total === 0 ? 'No failed, gone or retrying assets.' : `None of the ${esc(p.total)} problems match the filter.`}</p>`;
  return (
    pollError +
    catalogError +
    `<table id="problems-table"><caption>${esc(p.items.length)} of ${esc(p.total)} problems</caption><thead><tr><th scope="col">Key</th><th scope="col">State</th><th scope="col">Error</th><th scope="col">Message</th><th scope="col">Attempts</th><th scope="col">When</th><th scope="col">Next retry</th></tr></thead><tbody>` +
    p.items
      .map(
        (x) =>
          `<tr data-state="${esc(x.state)}"><td class="key" data-label="Key">${keyHtml(x.key)}</td><td data-label="State"><span class="tag t-${esc(x.state)}">${esc(x.state)}</span></td>` +
          `<td data-label="Error">${esc(x.class ?? '')}${x.status ? ` ${esc(x.status)}` : ''}</td><td class="msg" data-label="Message">${esc(x.message ?? '')}</td><td data-label="Attempts">${esc(x.attempts)}</td>` +
          `<td data-label="When">${fmtTime(x.at, d.generatedAt)}</td><td class="next" data-label="Next retry">${nextRetry(x, d.generatedAt)}</td></tr>`,
      )
      .join('') +
    '</tbody></table>'
  );
}

/** The four live sections by element id. */
export function renderSections(d: ApiStatus): Record<string, string> {
  return { 'overall-body': renderOverall(d), 'now-body': renderNow(d), 'history-body': renderHistory(d), 'problems-body': renderProblems(d) };
}

