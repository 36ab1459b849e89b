// Public API of the Constellr API simulator.
export { startSimulator, type Simulator, type SimulatorOptions } from './server.js';
export type { SimulatorStats, TokenEncoding, TokenFormat } from './context.js';
export { defaultFaults, type FaultConfig } from './faults.js';
export { parseRange } from './downloads.js';
export { encodeKeyPath } from './route-helpers.js';
export {
  AssetInventory,
  sampleInventory,
  compareKeys,
  utf8SortKey,
  type Asset,
  type AssetInput,
  type FilterMode,
  type ListOptions,
  type ListResult,
  type SampleInventoryOptions,
} from './inventory.js';
export { createContentStream, contentSha256, contentBytes, fillContent, CONTENT_CHUNK_SIZE } from './content.js';
export { mulberry32, seedFromString, Rng } from './rng.js';
export { ApiKeyRegistry, type ApiKeyInput, type Principal } from './apikeys.js';
export {
  StacStore,
  COLLECTIONS as STAC_COLLECTIONS,
  defaultStacKnobs,
  type StacKnobs,
  type StacItemInput,
  type StacAssetInput,
  type StacItemRecord,
  type Presence,
} from './stac/model.js';
export { sampleStacItems, sampleStacStore, type SampleStacOptions } from './stac/sample.js';
export { compileCql2, Cql2Error } from './stac/cql2.js';
export { parseCql2Text } from './stac/cql2-text.js';
export { Presigner, STAC_BUCKET } from './stac/presign.js';
export type { StacStats } from './stac/route-context.js';
