// `node --import <this file>`: reports on stderr every module specifier naming hyparquet that the
// process resolves ("import-probe: hyparquet-writer"), so a test can see whether the GeoParquet writer
// library was loaded at all. The resolve hook runs on the loader thread: it writes to fd 2 directly.
import { register } from 'node:module';

const hook = `
import { writeSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier.includes('hyparquet')) writeSync(2, 'import-probe: ' + specifier + '\\n');
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
