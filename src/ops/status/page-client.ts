/// <reference lib="dom" />
// The status page's script, run in the browser as an ES module (served by routes.ts from
// the compiled dist/ops/status/ beside page-render.js, which it imports; no bundler). It polls
// /api/status every few seconds and re-renders the sections with the server's own renderers, keeps
// the problem filter in the address bar, and runs the action buttons. What the server decides (the
// refresh interval, the action header) it reads from the page's <body data-…>.
import type { ApiStatus } from './api.js';
import { fmtClock, renderSections } from './page-render.js';

const body = document.body;
const REFRESH = Number(body.dataset.refreshMs);
const ACTION_HEADER = body.dataset.actionHeader ?? '';
const live = document.getElementById('live');
const filter = document.getElementById('filter') as HTMLFormElement | null;

function field(name: string): HTMLInputElement | HTMLSelectElement | null {
  return (filter?.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null) ?? null;
}

/** The filter as a query string ('' or '?…'), as the server's form would send it. */
function query(): string {
  if (!filter) return '';
  const p = new URLSearchParams();
  const st = field('problems')?.value ?? '';
  const cl = field('class')?.value ?? '';
  const q = (field('q')?.value ?? '').trim();
  if (st) p.set('problems', st);
  if (cl) p.set('class', cl);
  if (q) p.set('q', q);
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** New error classes join the filter's list; the chosen one stays chosen. */
function updateClasses(d: ApiStatus): void {
  const sel = document.querySelector<HTMLSelectElement>('#filter select[name=class]');
  if (!sel) return;
  const cur = sel.value;
  const have = new Set(Array.from(sel.options, (o) => o.value));
  for (const c of d.problems.classes ?? []) {
    if (have.has(c)) continue;
    const o = document.createElement('option');
    o.value = c;
    o.textContent = c;
    sel.appendChild(o);
  }
  sel.value = cur;
}

let busy = false;
async function refresh(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    const r = await fetch(`api/status${query()}`, { credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (r.status === 401) {
      location.reload();
      throw new Error('login required');
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const d = (await r.json()) as ApiStatus;
    for (const [id, html] of Object.entries(renderSections(d))) {
      const el = document.getElementById(id);
      if (el) el.innerHTML = html;
    }
    updateClasses(d);
    if (live) {
      live.textContent = `live · updated ${fmtClock(d.generatedAt)}`;
      live.dataset.updated = d.generatedAt;
    }
    body.dataset.refreshes = String(Number(body.dataset.refreshes ?? 0) + 1);
  } catch (e) {
    if (live) live.textContent = `connection problem (${(e as Error).message}); retrying`;
  } finally {
    busy = false;
  }
}

function filterChanged(): void {
  history.replaceState(null, '', location.pathname + query());
  void refresh();
}

if (filter) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  filter.addEventListener('submit', (e) => {
    e.preventDefault();
    filterChanged();
  });
  filter.addEventListener('change', filterChanged);
  field('q')?.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(filterChanged, 300);
  });
}

async function runAction(b: HTMLButtonElement): Promise<void> {
  const out = document.getElementById('action-result');
  if (!out) return;
  b.disabled = true;
  out.textContent = 'working…';
  try {
    const r = await fetch(`api/actions/${b.dataset.action ?? ''}`, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json', [ACTION_HEADER]: '1' } });
    const j = (await r.json()) as { message?: string };
    out.textContent = j.message || (r.ok ? 'done' : 'failed');
    out.className = r.ok ? 'ok' : 'bad';
    void refresh();
  } catch (e) {
    out.textContent = `failed: ${(e as Error).message}`;
    out.className = 'bad';
  } finally {
    b.disabled = false;
  }
}

document.querySelectorAll<HTMLButtonElement>('button[data-action]').forEach((b) => b.addEventListener('click', () => void runAction(b)));
const buttons = document.getElementById('action-buttons');
if (buttons) buttons.hidden = false;
const noJs = document.getElementById('nojs-note');
if (noJs) noJs.hidden = true;
body.classList.add('js');
setInterval(() => void refresh(), REFRESH);
void refresh();
