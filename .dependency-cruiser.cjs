// The layers of src/ as a rule (issue 12 §7): `npm run lint:deps`, run by .ci/run before the tests.
// Floors, high → low; a module imports only from its own floor or lower ones:
//   cli → daemon → ops → sync → download → mirror → store → api / config → lib, errors.ts
// ops (health, metrics, the status page, notifications) listens to sync's worker events, so it sits
// above sync. On a shared floor one direction is allowed, so two folders never import each other:
// api may import config (not back).
// The simulator stands apart: it imports nothing of src/ but lib/, and only cli/ (and tests) import it.
// Type-only imports count (tsPreCompilationDeps): a type import upward is still a dependency upward.
// There is no exceptions list: fix the import, not this file.

/** Folders above each floor: a module of `folder` must not import from any of them. */
const ABOVE = {
  daemon: ['cli'],
  ops: ['cli', 'daemon'],
  sync: ['cli', 'daemon', 'ops'],
  download: ['cli', 'daemon', 'ops', 'sync'],
  mirror: ['cli', 'daemon', 'sync', 'download', 'ops'],
  store: ['cli', 'daemon', 'sync', 'download', 'ops', 'mirror'],
  api: ['cli', 'daemon', 'sync', 'download', 'ops', 'mirror', 'store'],
  config: ['cli', 'daemon', 'sync', 'download', 'ops', 'mirror', 'store', 'api'],
};

const floorRules = Object.entries(ABOVE).map(([folder, above]) => ({
  name: `${folder}-imports-down`,
  severity: 'error',
  comment: `src/${folder}/ may import only from its own floor or lower ones (not ${above.join(', ')}).`,
  from: { path: `^src/${folder}/` },
  to: { path: `^src/(${above.join('|')})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles between modules.',
      from: {},
      to: { circular: true },
    },
    ...floorRules,
    {
      name: 'lib-is-ground',
      severity: 'error',
      comment: 'src/lib/ is the ground floor: it imports only from lib/ and errors.ts.',
      from: { path: '^src/lib/' },
      to: { path: '^src/', pathNot: ['^src/lib/', '^src/errors\\.ts$'] },
    },
    {
      name: 'errors-is-ground',
      severity: 'error',
      comment: 'src/errors.ts imports nothing from src/.',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'simulator-apart',
      severity: 'error',
      comment: 'The simulator is independent of the client (it never tests itself): it imports only lib/.',
      from: { path: '^src/simulator/' },
      to: { path: '^src/', pathNot: ['^src/simulator/', '^src/lib/'] },
    },
    {
      name: 'only-cli-starts-the-simulator',
      severity: 'error',
      comment: 'Nothing in src/ but cli/ imports the simulator (tests may).',
      from: { path: '^src/', pathNot: ['^src/cli/', '^src/simulator/'] },
      to: { path: '^src/simulator/' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'Every relative import resolves to a file.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: {
      archi: { collapsePattern: '^src/[^/]+' },
      dot: { collapsePattern: '^src/[^/]+' },
    },
  },
};
