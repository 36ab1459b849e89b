// GET /stac (landing page) and GET /stac/conformance.
import { type Res, type StacContext, GEOJSON, JSON_TYPE, sendJson } from './route-context.js';
import type { StacKnobs } from './model.js';
import { STAC_VERSION } from './model.js';

const CORE = [
  'https://api.stacspec.org/v1.0.0/core',
  'https://api.stacspec.org/v1.0.0/collections',
  'https://api.stacspec.org/v1.0.0/ogcapi-features',
  'https://api.stacspec.org/v1.0.0/item-search',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson',
];

const FILTER = [
  'https://api.stacspec.org/v1.0.0-rc.2/item-search#filter',
  'https://api.stacspec.org/v1.0.0-rc.2/ogcapi-features/extensions/filter',
  'http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter',
  'http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter',
  'http://www.opengis.net/spec/cql2/1.0/conf/cql2-json',
  'http://www.opengis.net/spec/cql2/1.0/conf/cql2-text',
  'http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2',
  'http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators',
  'http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions',
  'http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions',
];

const SORT = ['https://api.stacspec.org/v1.0.0/item-search#sort', 'https://api.stacspec.org/v1.0.0/ogcapi-features#sort'];

export function conformsTo(knobs: StacKnobs): string[] {
  return [...CORE, ...(knobs.filter ? FILTER : []), ...(knobs.sort ? SORT : [])];
}

export function handleLanding(ctx: StacContext, res: Res): void {
  ctx.stats.landingRequests++;
  const root = `${ctx.urls().api}/stac`;
  sendJson(res, 200, {
    type: 'Catalog',
    stac_version: STAC_VERSION,
    id: 'constellr-stac',
    title: 'constellr STAC API (simulator)',
    description: 'Land surface temperature products of the constellr HiVE constellation.',
    conformsTo: conformsTo(ctx.store.knobs),
    links: [
      { rel: 'self', href: root, type: JSON_TYPE },
      { rel: 'root', href: root, type: JSON_TYPE },
      { rel: 'conformance', href: `${root}/conformance`, type: JSON_TYPE },
      { rel: 'data', href: `${root}/collections`, type: JSON_TYPE },
      { rel: 'search', href: `${root}/search`, type: GEOJSON, method: 'GET' },
      { rel: 'search', href: `${root}/search`, type: GEOJSON, method: 'POST' },
      ...(ctx.store.knobs.filter ? [{ rel: 'http://www.opengis.net/def/rel/ogc/1.0/queryables', href: `${root}/queryables`, type: 'application/schema+json' }] : []),
    ],
  });
}

export function handleConformance(ctx: StacContext, res: Res): void {
  ctx.stats.conformanceRequests++;
  sendJson(res, 200, { conformsTo: conformsTo(ctx.store.knobs) });
}

/** GET /stac/queryables: what the filter can name. */
export function handleQueryables(ctx: StacContext, res: Res): void {
  const root = `${ctx.urls().api}/stac`;
  sendJson(
    res,
    200,
    {
      $schema: 'https://json-schema.org/draft/2019-09/schema',
      $id: `${root}/queryables`,
      type: 'object',
      title: 'Queryables for the constellr STAC API',
      properties: {
        id: { type: 'string' },
        collection: { type: 'string' },
        datetime: { type: 'string', format: 'date-time' },
        updated: { type: 'string', format: 'date-time' },
        'order:id': { type: 'string' },
        gsd: { type: 'number' },
        platform: { type: 'string' },
        constellation: { type: 'string' },
        geometry: { $ref: 'https://geojson.org/schema/Geometry.json' },
      },
      additionalProperties: false,
    },
    'application/schema+json',
  );
}
