// The conformance classes the STAC source acts on, as a table (pystac-client's ConformanceClasses),
// and the server's list of them, fetched once per process. Only what the server does decides the
// incremental strategy (strategy.ts); conformance decides only whether a datetime walk asks for sorting.
import type { StacApi } from './boundary.js';
import { parseConformance } from './documents.js';

/** Capability → the pattern of its conformance URI. Add a row here to act on another class. */
export const CONFORMANCE_CLASSES = {
  /** sortby on /search (item-search#sort; the other sort classes are about other endpoints). */
  ITEM_SEARCH_SORT: /item-search#sort/,
} as const satisfies Record<string, RegExp>;

export type ConformanceClass = keyof typeof CONFORMANCE_CLASSES;

/** Whether the advertised `classes` include `cls`. */
export function conformsTo(classes: readonly string[], cls: ConformanceClass): boolean {
  const pattern = CONFORMANCE_CLASSES[cls];
  return classes.some((c) => pattern.test(c));
}

/** GET /stac/conformance, once per process. */
export class Conformance {
  #classes: string[] | null = null;

  async load(api: StacApi, signal?: AbortSignal): Promise<readonly string[]> {
    this.#classes ??= await api.get('stac/conformance', parseConformance, signal);
    return this.#classes;
  }

  /** Whether the server advertises `cls`; false before the first load. */
  has(cls: ConformanceClass): boolean {
    return conformsTo(this.#classes ?? [], cls);
  }
}
