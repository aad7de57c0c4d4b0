// The floor of a re-run, for the speed benchmark only: the fewest requests with which any careful mirror
// can tell that a filled target is up to date, sent by the leanest client. Per image: GET the source
// manifest by tag (its digest may have moved; SHA-256 of the bytes), HEAD the target's tag and compare
// digests, GET the source's tag list (where cosign signatures `sha256-<hex>.sig` appear, which
// olm-mirror copies by default). 8 workers, undici pools with keep-alive, nothing else: no retries, no
// auth, no report. It runs as its own process, as a command would, so the start of node and the loading
// of undici count too.
//
// Usage: node raw-recheck.js SOURCE_URL TARGET_URL TAG REPOSITORY...
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { sha256Digest } from '../src/manifest/digest.js';
import { inParallel } from '../src/util/in-parallel.js';
import { ACCEPT } from './raw-copy.js';

const WORKERS = 8;

/** The repositories whose target tag is missing or holds another digest than the source's. */
export async function rawRecheck(sourceUrl: string, targetUrl: string, tag: string, repositories: string[]): Promise<string[]> {
  const source = new Pool(sourceUrl, { connections: WORKERS });
  const target = new Pool(targetUrl, { connections: WORKERS });
  const stale: string[] = [];
  try {
    await inParallel(repositories, WORKERS, async (repository) => {
      const manifest = await source.request({ method: 'GET', path: `/v2/${repository}/manifests/${tag}`, headers: { accept: ACCEPT } });
      if (manifest.statusCode !== 200) throw new Error(`raw re-check: GET manifest ${repository}:${tag} answered HTTP ${manifest.statusCode}`);
      const digest = sha256Digest(Buffer.from(await manifest.body.arrayBuffer()));
      const head = await target.request({ method: 'HEAD', path: `/v2/${repository}/manifests/${tag}`, headers: { accept: ACCEPT } });
      await head.body.dump();
      if (head.headers['docker-content-digest'] !== digest) stale.push(repository);
      const tags = await source.request({ method: 'GET', path: `/v2/${repository}/tags/list` });
      if (tags.statusCode !== 200) throw new Error(`raw re-check: GET tags of ${repository} answered HTTP ${tags.statusCode}`);
      await tags.body.json();
    });
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
  return stale;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [sourceUrl, targetUrl, tag, ...repositories] = process.argv.slice(2);
  if (sourceUrl === undefined || targetUrl === undefined || tag === undefined) {
    throw new Error('usage: raw-recheck.js SOURCE_URL TARGET_URL TAG REPOSITORY...');
  }
  const stale = await rawRecheck(sourceUrl, targetUrl, tag, repositories);
  // A floor that found work to do measured something else: the target must be up to date.
  if (stale.length > 0) throw new Error(`raw re-check: ${stale.length} target tags differ from the source, first ${stale[0]}`);
}
