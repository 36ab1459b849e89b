// The status page: one HTML document with inline CSS and one ES module of its own (page-client.ts,
// compiled with the rest; SVG drawn by the page; no CDN, no fonts, no bundler). The server renders
// every section, so without JavaScript the page shows the state, the counts and the problems; with
// it, the page polls /api/status every few seconds and re-renders the sections with the same
// functions (page-render.ts, which the module imports).
import type { ApiStatus, ProblemFilter } from './api.js';
import { PROBLEM_STATES } from './api.js';
import { ACTION_HEADER } from '../http-auth.js';
import { esc, fmtClock, renderSections } from './page-render.js';

/** How often the page asks for fresh data. */
export const REFRESH_MS = 2000;

const CSS = `
:root{color-scheme:light dark;--bg:#f7f7f8;--fg:#16181d;--muted:#5b6270;--card:#fff;--line:#d9dce3;--accent:#1f6feb;--ok:#1a7f37;--bad:#c62828;--warn:#9a6700;--bar:#e6e8ee;--on-accent:#fff}
@media (prefers-color-scheme:dark){:root{--bg:#0f1115;--fg:#e6e8ee;--muted:#9aa3b2;--card:#181b21;--line:#2c313a;--accent:#58a6ff;--ok:#3fb950;--bad:#f47067;--warn:#d4a72c;--bar:#2a2f38;--on-accent:#0f1115}}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;justify-content:space-between;padding:.8rem 1rem;border-bottom:1px solid var(--line)}
header h1{font-size:1.15rem;margin:0}#live{color:var(--muted);font-size:.85rem}
main{display:grid;gap:1rem;padding:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,28rem),1fr));max-width:90rem;margin:0 auto}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;min-width:0}
section.wide{grid-column:1/-1}h2{font-size:1.05rem;margin:0 0 .6rem}h3{font-size:.95rem;margin:.9rem 0 .4rem}
.muted{color:var(--muted)}.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}
.state{font-size:1.2rem;font-weight:700;margin:.2rem 0 .5rem}.state-complete{color:var(--ok)}.state-problems{color:var(--bad)}.state-syncing{color:var(--accent)}
.bar{height:.7rem;background:var(--bar);border-radius:4px;overflow:hidden;margin:.3rem 0}.bar span{display:block;height:100%;background:var(--accent);transition:width .4s}
.bar.big{height:1rem}.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .8rem;margin:.8rem 0 0}.facts dt{color:var(--muted)}.facts dd{margin:0;min-width:0;overflow-wrap:anywhere}
.counts{display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0;margin:0}.count{border:1px solid var(--line);border-radius:6px;padding:.25rem .6rem}.count .n{font-weight:700;font-size:1.1rem}
.c-failed .n{color:var(--bad)}.c-done .n{color:var(--ok)}.c-running .n{color:var(--accent)}
.inflight,.pauses{list-style:none;padding:0;margin:0}.inflight li{margin:.5rem 0}.key{font-family:ui-monospace,monospace;font-size:.85rem;overflow-wrap:break-word}.meta{color:var(--muted);font-size:.82rem}
.pauses li{border-left:3px solid var(--warn);padding-left:.5rem;margin:.3rem 0}
svg#chart{width:100%;height:10rem;background:var(--bg);border:1px solid var(--line);border-radius:6px}
.chart{display:grid;grid-template-columns:auto minmax(0,1fr) auto;column-gap:.35rem}.chart>.axis{grid-column:2}.yaxis{position:relative;height:10rem;min-width:3.4rem;font-size:.72rem;color:var(--muted)}.y-right{min-width:3.2rem}.legend .li{display:inline-block}td.num{white-space:nowrap}a{color:var(--accent)}.yaxis span{position:absolute;transform:translateY(-50%);white-space:nowrap;line-height:1}.y-left span{right:0}.y-right span{left:0}
.grid{stroke:var(--line);stroke-width:1}.tp{stroke:var(--accent);stroke-width:2;vector-effect:non-scaling-stroke}.fpm{stroke:var(--ok);stroke-width:1.5;stroke-dasharray:4 3;vector-effect:non-scaling-stroke}.pt{fill:var(--accent)}
.legend{font-size:.82rem;color:var(--muted)}.axis{display:flex;justify-content:space-between;font-size:.75rem;color:var(--muted);margin:.1rem 0}
.cols{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr))}.cols>div{min-width:0}.sw{display:inline-block;width:1.2rem;height:.2rem;vertical-align:middle;margin:0 .2rem 0 .6rem}.sw.tp{background:var(--accent)}.sw.fpm{background:var(--ok)}
table{width:100%;border-collapse:collapse;font-size:.88rem}caption{text-align:left;color:var(--muted);padding:.3rem 0}th,td{text-align:left;padding:.3rem .4rem;border-top:1px solid var(--line);vertical-align:top}
td.msg{overflow-wrap:anywhere}.tag{border-radius:4px;padding:0 .35rem;font-size:.8rem;border:1px solid var(--line)}.t-failed{color:var(--bad)}.t-retrying{color:var(--warn)}
[hidden]{display:none!important}form.filter,.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.2rem 0 .6rem}label{font-size:.8rem;color:var(--muted)}.field{display:flex;flex-direction:column;gap:.15rem}
input,select,button{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.35rem .55rem;min-height:2.3rem}
button{cursor:pointer;background:var(--accent);border-color:var(--accent);color:var(--on-accent);font-weight:600}button.secondary{background:var(--bg);color:var(--fg);border-color:var(--line)}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}#action-result{min-height:1.3rem;font-size:.9rem}
@media (max-width:40rem){main{padding:.5rem;gap:.6rem}section{padding:.6rem}.facts{grid-template-columns:1fr}.facts dt{margin-top:.3rem}
table,tbody,tr,td{display:block}thead{display:none}tr{border-top:1px solid var(--line);padding:.3rem 0}td{border:0;padding:.1rem 0;display:grid;grid-template-columns:6.5rem 1fr;gap:.5rem}td::before{content:attr(data-label);color:var(--muted);font-size:.8rem}caption{display:block}.tag{justify-self:start}}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--card);padding:.4rem}
footer{padding:0 1rem 1rem;color:var(--muted);font-size:.8rem;text-align:center}`;

/** The browser module's URL, relative to the page (routes.ts serves it and what it imports). */
export const CLIENT_SCRIPT = 'assets/page-client.js';

function shell(title: string, body: string, script: boolean): string {
  // The browser module reads the refresh interval and the action header from the body's data.
  const bodyAttrs = script ? ` data-refresh-ms="${REFRESH_MS}" data-action-header="${esc(ACTION_HEADER)}"` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${esc(title)}</title><style>${CSS}</style>${script ? `<script type="module" src="${CLIENT_SCRIPT}"></script>` : ''}</head><body${bodyAttrs}>${body}</body></html>`;
}

export interface PageOptions {
  /** A token is set and the request carried it: show the action buttons. */
  actions: boolean;
  /** A token is set (a logout button makes sense). */
  loggedIn: boolean;
  filter: ProblemFilter;
}

/** The whole status page, rendered on the server. */
export function renderPage(d: ApiStatus, o: PageOptions): string {
  const s = renderSections(d);
  const classes = [...new Set([...d.problems.classes, ...(o.filter.class ? [o.filter.class] : [])])];
  const stateSel = o.filter.states.length === 1 ? o.filter.states[0] : '';
  const filter =
    `<form id="filter" class="filter" method="get" action="./" role="search" aria-label="Filter problems">` +
    `<div class="field"><label for="f-state">State</label><select id="f-state" name="problems"><option value="">failed, gone and retrying</option>${PROBLEM_STATES.map((p) => `<option value="${p}"${p === stateSel ? ' selected' : ''}>${p}</option>`).join('')}</select></div>` +
    `<div class="field"><label for="f-class">Error class</label><select id="f-class" name="class"><option value="">any</option>${classes.map((c) => `<option value="${esc(c)}"${c === o.filter.class ? ' selected' : ''}>${esc(c)}</option>`).join('')}</select></div>` +
    `<div class="field"><label for="f-q">Key or message contains</label><input id="f-q" type="search" name="q" value="${esc(o.filter.q ?? '')}" maxlength="200"></div>` +
    `<button type="submit" class="secondary">Filter</button></form>`;
  const actions = o.actions
    ? `<div class="actions"><span id="action-buttons" class="actions" hidden><button type="button" data-action="retry-failed" id="retry-failed">Retry failed</button>` +
      `<button type="button" data-action="poll-now" id="poll-now" class="secondary">Poll now</button></span>` +
      `<span class="muted" id="nojs-note">"Retry failed" and "Poll now" need JavaScript.</span>` +
      `<form method="post" action="logout"><button type="submit" class="secondary">Log out</button></form></div><p id="action-result" role="status" aria-live="polite"></p>`
    : `<p class="muted" id="read-only">Read-only: set <code>CONSTELLR_SYNC_HTTP_TOKEN</code> to enable "retry failed" and "poll now".</p>`;
  const body =
    `<a class="skip" href="#problems">Skip to problems</a>` +
    `<header><h1>constellr-sync</h1><span id="live" role="status" aria-live="off">server-rendered at ${esc(fmtClock(d.generatedAt))}; reload for fresh numbers</span></header><main>` +
    `<section id="overall" aria-labelledby="h-overall"><h2 id="h-overall">Overall</h2><div id="overall-body">${s['overall-body']}</div>` +
    `<div id="actions-section" role="group" aria-labelledby="h-actions"><h3 id="h-actions">Actions</h3>${actions}</div></section>` +
    `<section id="now" aria-labelledby="h-now"><h2 id="h-now">Now</h2><div id="now-body">${s['now-body']}</div></section>` +
    // Problems before the history: what went wrong is the first thing below the overall state.
    `<section id="problems" class="wide" aria-labelledby="h-problems"><h2 id="h-problems">Problems</h2>${filter}<div id="problems-body">${s['problems-body']}</div></section>` +
    `<section id="history" class="wide" aria-labelledby="h-history"><h2 id="h-history">Last hour</h2><div id="history-body">${s['history-body']}</div></section>` +
    `</main><footer>status API v${esc(d.apiVersion)} · <a href="api/status">/api/status</a> · <a href="metrics">/metrics</a></footer>`;
  return shell('constellr-sync status', body, true);
}

/** The login form (a token is set and the request did not carry it). */
export function renderLogin(message: string | null): string {
  const body =
    `<main><section class="wide" aria-labelledby="h-login"><h2 id="h-login">constellr-sync: log in</h2>` +
    `<p class="muted">This status page is protected by <code>http.token</code> (CONSTELLR_SYNC_HTTP_TOKEN).</p>` +
    (message ? `<p class="bad" role="alert" id="login-error">${esc(message)}</p>` : '') +
    `<form method="post" action="login" class="actions"><div class="field"><label for="token">Token</label><input id="token" type="password" name="token" autocomplete="current-password" required autofocus></div>` +
    `<button type="submit">Log in</button></form></section></main>`;
  return shell('constellr-sync: log in', body, false);
}
