// config.example.yaml must stay true to the code: it loads, it shows the defaults, and it lists
// every key the schema knows.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig, describeConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

const EXAMPLE = path.resolve(__dirname, '../../config.example.yaml');

function leafPaths(o: unknown, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return [prefix];
  return Object.entries(o).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

describe('config.example.yaml', () => {
  it('loads without errors and its values are the defaults', () => {
    const fromExample = describeConfig(loadConfig({ configFile: EXAMPLE, env: {}, cwd: '/tmp' }));
    const defaults = describeConfig(loadConfig({ env: {}, cwd: '/tmp' }));
    expect(fromExample).toEqual(defaults);
  });

  it('documents every key of the schema', () => {
    const doc = YAML.parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
    const documented = new Set(leafPaths(doc));
    const schemaKeys = leafPaths(configSchema.parse({}));
    // A key whose default is an object or list is documented as a whole.
    const missing = schemaKeys.filter((k) => ![...documented].some((d) => d === k || d.startsWith(`${k}.`) || k.startsWith(`${d}.`)));
    expect(missing).toEqual([]);
  });
});
