// `constellr-sync export [--format jsonl|csv|stac-ndjson|stac-geoparquet] [--output FILE]`: the manifest
// for downstream pipelines, or the STAC catalog's items (newline-delimited JSON, or stac-geoparquet).
import { createWriteStream, promises as fsp } from 'node:fs';
import { EXPORT_OPTIONS, optionsHelp } from '../options.js';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { formatManifestRow, manifestHeader, manifestRows, type ManifestFormat } from '../../mirror/manifest.js';
import { openState } from '../../daemon/runtime.js';
import { describeStore } from '../../store/open.js';
import { stacNdjsonLines } from '../../mirror/stac-export.js';
import { writeIndexFile } from '../../mirror/stac-index.js';
import { configFromFlags, out, err } from '../common.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { SyncError } from '../../errors.js';
import { operatorOsError } from '../../lib/operator-errors.js';

export const EXPORT_HELP = `Usage: constellr-sync export [--format jsonl|csv|stac-ndjson|stac-geoparquet] [--output FILE] [config flags]

Write the manifest: for each key its local path (relative to the mirror; folder markers end in /),
size, LastModified, sha256, state (queued, running, done, failed, gone, skipped, deleted_remote) and
whether its path was shortened. JSON lines by default; CSV (RFC 4180, with a header row) on request.
--format stac-ndjson (source: stac with stac.catalog): one STAC item per line as the mirror's catalog
holds it, asset hrefs relative to the mirror root (input for stac-geoparquet tools).
--format stac-geoparquet --output FILE (source: stac with stac.catalog): the same items as one
stac-geoparquet file, like <mirror>/items.parquet (stac.geoparquet), written now from the state.
Without --output it goes to stdout; with it, the file is replaced atomically when complete.

${optionsHelp('export')}`;

async function write(stream: Writable, s: string): Promise<void> {
  if (!stream.write(s)) await once(stream, 'drain');
}

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: EXPORT_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out(EXPORT_HELP);
    return EXIT.OK;
  }
  const format = (values.format ?? 'jsonl') as ManifestFormat | 'stac-ndjson' | 'stac-geoparquet';
  if (format !== 'jsonl' && format !== 'csv' && format !== 'stac-ndjson' && format !== 'stac-geoparquet') throw new UsageError(`--format must be jsonl, csv, stac-ndjson or stac-geoparquet, got ${JSON.stringify(values.format)}`);
  const config = configFromFlags(values);
  if ((format === 'stac-ndjson' || format === 'stac-geoparquet') && !(config.source === 'stac' && config.stac.catalog)) throw new UsageError(`--format ${format} needs source: stac with stac.catalog: true`);
  if (format === 'stac-geoparquet' && !values.output) throw new UsageError('--format stac-geoparquet needs --output FILE (Parquet is not written to a pipe)');
  const store = await openState(config, { readonly: true });
  if (!store) {
    err(`no state yet in ${describeStore(config)} (run sync first)`);
    return EXIT.USAGE;
  }
  if (format === 'stac-geoparquet') {
    const stats = { missing: 0 };
    try {
      const r = await writeIndexFile(store.catalog, config.mirror.dir, values.output!, `${values.output}.tmp-${process.pid}`, stats);
      if (stats.missing > 0) err(`export: ${stats.missing} item JSON files could not be read (run verify --repair)`);
      err(`export: ${r.rows} items written to ${values.output}`);
    } finally {
      await store.close();
    }
    return EXIT.OK;
  }
  const tmp = values.output ? `${values.output}.tmp-${process.pid}` : null;
  const stream: Writable = tmp ? createWriteStream(tmp) : process.stdout;
  let rows = 0;
  try {
    if (format === 'stac-ndjson') {
      const stats = { missing: 0 };
      for await (const line of stacNdjsonLines(store.catalog, config.mirror.dir, stats)) {
        await write(stream, `${line}\n`);
        rows++;
      }
      if (stats.missing > 0) err(`export: ${stats.missing} item JSON files could not be read (run verify --repair)`);
    } else {
      const header = manifestHeader(format);
      if (header) await write(stream, `${header}\n`);
      for await (const r of manifestRows(store)) {
        await write(stream, `${formatManifestRow(r, format)}\n`);
        rows++;
      }
    }
    if (tmp) {
      stream.end();
      await once(stream, 'finish');
      await fsp.rename(tmp, values.output!);
    }
  } catch (e) {
    if (tmp) {
      stream.destroy();
      await fsp.rm(tmp, { force: true });
      // A missing or read-only --output directory: one line naming the file asked for (exit 2).
      const os = operatorOsError(e);
      if (os) throw new SyncError(`--output ${values.output!}: ${os.message.replace(/^cannot \S+ \S+: /, '')}`, { code: 'SYNC_FS_UNUSABLE', cause: e });
    }
    throw e;
  } finally {
    await store.close();
  }
  if (values.output) err(`export: ${rows} ${format === 'stac-ndjson' ? 'items' : 'keys'} written to ${values.output}`);
  return EXIT.OK;
}
