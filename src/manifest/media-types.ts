// Media types of the image formats olm-mirror copies, and the ones it only recognises to refuse them.

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** Docker schema 1 (signed and unsigned): only recognised so that the error can say what is wrong. */
export const Schema1MediaTypes = [
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v1+json',
] as const;

export const IndexMediaTypes: readonly string[] = [MediaTypes.dockerManifestList, MediaTypes.ociIndex];
export const ImageManifestMediaTypes: readonly string[] = [MediaTypes.dockerManifest, MediaTypes.ociManifest];

/** The Accept list for manifest requests: the four supported types first, schema 1 last so a registry only picks it when nothing else exists. */
export const ManifestAccept: readonly string[] = [...ImageManifestMediaTypes, ...IndexMediaTypes, ...Schema1MediaTypes];

export function isIndexMediaType(mediaType: string): boolean {
  return IndexMediaTypes.includes(mediaType);
}

export function isSchema1MediaType(mediaType: string): boolean {
  return (Schema1MediaTypes as readonly string[]).includes(mediaType);
}

/** `application/json; charset=utf-8` -> `application/json` (registries add parameters to Content-Type). */
export function baseMediaType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}
