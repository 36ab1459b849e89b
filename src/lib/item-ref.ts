// A STAC item named by its collection and its id: what the catalog writer rebuilds, withdraws and
// dedupes. One printer for its map key, so no caller joins the two strings by hand.

/** A STAC item by name: (collection, id). */
export interface ItemRef {
  readonly collection: string;
  readonly id: string;
}

/** The map key of an item: a JSON pair, so two different (collection, id) pairs never share one. */
export function itemRefKey(r: ItemRef): string {
  return JSON.stringify([r.collection, r.id]);
}

/** Items, each once, in the order first added. */
export class ItemRefSet implements Iterable<ItemRef> {
  readonly #m = new Map<string, ItemRef>();

  constructor(refs: Iterable<ItemRef> = []) {
    for (const r of refs) this.add(r);
  }

  get size(): number {
    return this.#m.size;
  }

  add(r: ItemRef): this {
    const k = itemRefKey(r);
    if (!this.#m.has(k)) this.#m.set(k, { collection: r.collection, id: r.id });
    return this;
  }

  has(r: ItemRef): boolean {
    return this.#m.has(itemRefKey(r));
  }

  delete(r: ItemRef): boolean {
    return this.#m.delete(itemRefKey(r));
  }

  /** Remove and return up to `n` items, oldest first. */
  take(n: number): ItemRef[] {
    const out: ItemRef[] = [];
    for (const [k, r] of this.#m) {
      if (out.length >= n) break;
      this.#m.delete(k);
      out.push(r);
    }
    return out;
  }

  [Symbol.iterator](): Iterator<ItemRef> {
    return this.#m.values();
  }
}
