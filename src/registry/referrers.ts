// The OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`): the manifests whose `subject` is a
// given manifest. A registry without the API (distribution 2.8 is one) answers 404; that is reported
// as undefined, so callers fall back to the referrers tag schema. So are 405 and 400: the spec gives 400
// only for an invalid digest, which olm-mirror never sends, and registries that lack the route answer these.
import { parseDigest } from '../manifest/digest.js';
import { MediaTypes } from '../manifest/media-types.js';
import { formatReference, type ImageReference } from '../reference/reference.js';
import type { ReferrerDescriptor } from '../transport/store.js';
import { isPlainObject } from '../util/guards.js';
import { repositoryScope } from './auth.js';
import { RegistryError } from './errors.js';
import type { CallSpec, Session } from './session.js';
import { discard, header, readText } from './transport.js';

const MAX_REFERRERS_PAGE_BYTES = 8 * 1024 * 1024;

/** The referrers of `ref.digest` (every page); undefined when the registry has no referrers API. */
export async function listReferrers(session: Session, ref: ImageReference): Promise<ReferrerDescriptor[] | undefined> {
  if (ref.digest === undefined) throw new RegistryError(`listing referrers of ${formatReference(ref)}: a digest is needed`, { registry: ref.registry });
  const referrers: ReferrerDescriptor[] = [];
  let target: string | URL = `/v2/${ref.repository}/referrers/${ref.digest}`;
  for (;;) {
    const spec: CallSpec = {
      registry: ref.registry, repository: ref.repository, scopes: [repositoryScope(ref.repository, 'pull')], method: 'GET', target,
      headers: { accept: MediaTypes.ociIndex }, expect: [200, 400, 404, 405], action: 'listing referrers of', subject: formatReference(ref),
    };
    const page = await session.request(spec, async (res) => {
      if (res.status !== 200) {
        await discard(res);
        return undefined;
      }
      const manifests = parseReferrersIndex(await readText(res, MAX_REFERRERS_PAGE_BYTES), `${spec.action} ${spec.subject}`, ref.registry);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '')?.[1];
      return { manifests, next: next === undefined ? undefined : new URL(next, res.url) };
    });
    if (page === undefined) return referrers.length === 0 ? undefined : referrers;
    referrers.push(...page.manifests);
    if (!page.next) return referrers;
    target = page.next;
  }
}

/** The descriptors of a referrers answer, kept whole (artifactType and annotations belong in the fallback index). */
export function parseReferrersIndex(text: string, what: string, registry: string): ReferrerDescriptor[] {
  const fail = (problem: string): never => { throw new RegistryError(`${what}: the registry's answer ${problem}`, { registry }); };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail('is not JSON');
  }
  if (!isPlainObject(body) || !Array.isArray(body.manifests)) return fail('is not an image index (no "manifests" array)');
  return (body.manifests as unknown[]).map((d, i) => {
    if (!isPlainObject(d) || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !Number.isSafeInteger(d.size)) {
      return fail(`has no mediaType, digest and size in manifests[${i}]`);
    }
    try {
      parseDigest(d.digest);
    } catch (err) {
      fail(`has an invalid digest in manifests[${i}]: ${(err as Error).message}`);
    }
    return d as unknown as ReferrerDescriptor;
  });
}
