// Links dropped at the boundary (documents.ts keepValidLinks) are reported once each, not once per poll
// that lists the item again.
import type { Logger } from '../../lib/logger.js';
import type { OnDroppedLink } from './documents.js';

const REMEMBERED = 10_000;

/** A reporter of dropped links that warns once per link (the href is never logged: it may be signed). */
export function reportDroppedLinks(log: Logger | undefined): OnDroppedLink {
  const reported = new Set<string>();
  return (d) => {
    const k = JSON.stringify([d.owner, d.index, d.rel, d.why]);
    if (reported.has(k)) return;
    if (reported.size >= REMEMBERED) reported.clear();
    reported.add(k);
    log?.warn({ owner: d.owner, link: d.index, rel: d.rel, why: d.why }, `dropped a malformed link of ${d.owner}`);
  };
}
