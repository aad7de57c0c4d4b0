// Where the tests find the repository and the shared upstream fixtures, whether run from
// the TypeScript sources or from the compiled copy under dist/.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  let dir = start;
  while (!existsSync(resolve(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

/** ../shared beside the clone; OLM_MIRROR_SHARED overrides it. */
export const sharedDir = process.env.OLM_MIRROR_SHARED ?? resolve(repoRoot, '..', 'shared');

export const fixturesDir = resolve(sharedDir, 'fixtures', 'operator-registry');

/** A reason to skip, or false, for tests that read the upstream fixtures. */
export function fixturesMissing(): string | false {
  return existsSync(fixturesDir) ? false : `upstream fixtures not found at ${fixturesDir}`;
}
