// verify's STAC catalog part: check the files; with --repair rewrite every item, collection and the
// root from the state (items whose files are being fetched again leave until they are complete) and
// check again.
import { indexLock } from '../../daemon/catalog.js';
import { StacCatalog } from '../../mirror/stac-catalog.js';
import { StacIndex } from '../../mirror/stac-index.js';
import { verifyCatalog } from '../../mirror/stac-verify.js';
import { createLogger } from '../../lib/logger.js';
import type { StateStore } from '../../store/types.js';
import { err } from '../common.js';

export interface CatalogVerdict {
  clean: boolean;
  collections: number;
  items: number;
  assets: number;
  problems: number;
  /** After --repair: problems still there. */
  remaining: number;
  issues: { file: string; detail: string }[];
}

export async function verifyStacCatalog(store: StateStore, root: string, o: { deep: boolean; repair: boolean; json: boolean; geoparquet?: boolean }): Promise<CatalogVerdict> {
  let r = await verifyCatalog(root, { deep: o.deep, onIssue: o.json ? undefined : (i) => err(`catalog         ${JSON.stringify(i.file)}  ${i.detail}`) });
  const problems = r.issues.length;
  if (o.repair && problems > 0) {
    const logger = createLogger({ level: 'silent' });
    const index = o.geoparquet ? new StacIndex({ store: store.catalog, root, logger, lock: indexLock(root) }) : null;
    const catalog = new StacCatalog({ store: store.catalog, jobs: store, root, logger, clock: Date.now, index });
    await catalog.rebuild();
    // The index follows the repaired catalog.
    await index?.rewrite();
    r = await verifyCatalog(root, { deep: o.deep });
  }
  return { clean: problems === 0, collections: r.collections, items: r.items, assets: r.assets, problems, remaining: r.issues.length, issues: r.issues.slice(0, 100) };
}
