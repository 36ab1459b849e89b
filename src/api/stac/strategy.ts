// How polls list incrementally. A high-water mark on properties.updated needs the server to filter
// and sort on it and the items to carry it. What the server does is the judge, not which conformance
// URLs it advertises (some sort correctly and advertise only ogcapi-features#sort, or nothing): a
// one-item probe with a CQL2 filter and a sortby on updated; a 400/422/501 or items without updated
// fall back to a window on datetime with stac.lookback, and the scheduled reconcile catches the rest.
import { isSyncError } from '../../errors.js';
import type { StacApi } from './boundary.js';
import { scopeBody, updatedSince, type SearchScope, type Strategy } from './search.js';
import { parseFeatureCollection } from './documents.js';

export interface StrategyChoice {
  strategy: Strategy;
  /** Why, in words for `status`. */
  reason: string;
}

export const NOT_PROBED: StrategyChoice = { strategy: 'datetime', reason: 'not probed yet (no poll has run in this process)' };

/** HTTP statuses by which a server refuses the probe's filter or sortby. */
const REFUSES_PROBE = new Set([400, 422, 501]);
const PROBE = 'POST /stac/search (probe)';

/** Ask the server with one-item searches which strategy works for `scope`. */
export async function probeStrategy(api: StacApi, scope: SearchScope, signal?: AbortSignal): Promise<StrategyChoice> {
  const url = api.url('stac/search');
  const read = (body: unknown) => parseFeatureCollection(body, PROBE).items;
  const body = { ...scopeBody(scope, 1), filter: updatedSince(scope.filter, 0), 'filter-lang': 'cql2-json', sortby: [{ field: 'updated', direction: 'desc' }] };
  let items;
  try {
    ({ value: items } = await api.call(url, { method: 'POST', body, signal }, PROBE, read));
  } catch (e) {
    if (isSyncError(e) && e.status !== undefined && REFUSES_PROBE.has(e.status))
      return { strategy: 'datetime', reason: `the server refused a CQL2-JSON filter and sortby on updated (HTTP ${e.status})` };
    throw e;
  }
  const first = items[0];
  if (!first) {
    // Nothing has an updated: is the scope empty, or do the items lack it?
    const { value: any } = await api.call(url, { method: 'POST', body: scopeBody(scope, 1), signal }, PROBE, read);
    return any.length > 0
      ? { strategy: 'datetime', reason: 'the items do not carry properties.updated' }
      : { strategy: 'datetime', reason: 'no item matched the scope yet, so nothing shows whether items carry updated' };
  }
  if (!first.properties.updated) return { strategy: 'datetime', reason: 'the items do not carry properties.updated' };
  return { strategy: 'updated', reason: 'the items carry properties.updated and the server accepts a CQL2-JSON filter and sortby on it (probe)' };
}
