// Public API of the Constellr API simulator.
export {
  startSimulator,
  defaultFaults,
  encodeKeyPath,
  parseRange,
  type Simulator,
  type SimulatorOptions,
  type SimulatorStats,
  type FaultConfig,
  type TokenEncoding,
  type TokenFormat,
} from './server.js';
export {
  Catalogue,
  sampleCatalogue,
  compareKeys,
  utf8SortKey,
  type Asset,
  type AssetInput,
  type FilterMode,
  type ListOptions,
  type ListResult,
  type SampleCatalogueOptions,
} from './catalogue.js';
export { createContentStream, contentSha256, contentBytes, fillContent, CONTENT_CHUNK_SIZE } from './content.js';
export { mulberry32, seedFromString, Rng } from './rng.js';
