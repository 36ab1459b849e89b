// A byte size a listing may not give. The asset API always lists one; a STAC asset without file:size
// does not, and its size is learned from the response (Content-Length, then the bytes written). In
// memory an unknown size is null, never a number: it cannot be summed or compared by mistake. On
// disk it is -1: in the state's NOT NULL column (store/rows.ts converts) and in a staging file's name
// (download/staging.ts stagingName, the name earlier versions gave it).

/** Bytes as listed; null when the listing did not say. */
export type ListedSize = number | null;

/** Known sizes summed and unknown ones counted apart: an unknown size never lowers a total. */
export function sumSizes(sizes: Iterable<ListedSize>): { bytes: number; unknown: number } {
  let bytes = 0;
  let unknown = 0;
  for (const s of sizes) {
    if (s === null) unknown++;
    else bytes += s;
  }
  return { bytes, unknown };
}
