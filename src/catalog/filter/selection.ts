// What a user asks to keep of a catalog: the shape of an ImageSetConfiguration's `mirror.operators[]`
// entry and of the command-line selection flags, checked before any catalog is read.
import { OlmMirrorError } from '../../errors.js';
import { compareVersions, parseTolerantVersion, type Version } from './semver.js';

export interface VersionBounds {
  /** Lowest version to keep (inclusive). */
  readonly minVersion?: string;
  /** Highest version to keep (inclusive); the highest kept bundle becomes the channel head. */
  readonly maxVersion?: string;
}

export interface ChannelSelection extends VersionBounds {
  readonly name: string;
}

export interface PackageSelection extends VersionBounds {
  readonly name: string;
  /** Only these channels; absent or empty: every channel of the package. */
  readonly channels?: readonly ChannelSelection[];
  /** The package's default channel in the filtered catalog (must be one of the kept channels). */
  readonly defaultChannel?: string;
}

export interface CatalogSelection {
  /** Without packages: the whole catalog; with packages: every bundle of their (selected) channels. */
  readonly full?: boolean;
  /** Only these packages (plus their dependencies); absent or empty: every package, channel heads only. */
  readonly packages?: readonly PackageSelection[];
  /** Do not add the bundles that kept bundles depend on. */
  readonly skipDependencies?: boolean;
}

/** A selection that cannot be applied (bad version, unknown package or channel, empty range ...): nothing was filtered. */
export class FilterError extends OlmMirrorError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** Parsed bounds of one channel or package. */
export interface Bounds {
  readonly min?: Version;
  readonly max?: Version;
  /** How the user wrote them, for messages, e.g. `minVersion 1.2.0, maxVersion 1.4.0`. */
  readonly text: string;
}

/** Checks the combinations oc-mirror refuses too, and parses every version once. */
export function checkSelection(selection: CatalogSelection): void {
  const seen = new Set<string>();
  for (const pkg of selection.packages ?? []) {
    if (pkg.name === '') throw new FilterError('a package selection needs a name');
    if (seen.has(pkg.name)) throw new FilterError(`package ${pkg.name} is selected twice`);
    seen.add(pkg.name);
    const packageBounds = parseBounds(pkg, `package ${pkg.name}`);
    const channels = pkg.channels ?? [];
    if (packageBounds && channels.length > 0) {
      throw new FilterError(`package ${pkg.name}: minVersion/maxVersion go either on the package or on its channels, not both`);
    }
    const channelNames = new Set<string>();
    for (const channel of channels) {
      if (channel.name === '') throw new FilterError(`package ${pkg.name}: a channel selection needs a name`);
      if (channelNames.has(channel.name)) throw new FilterError(`package ${pkg.name}: channel ${channel.name} is selected twice`);
      channelNames.add(channel.name);
      const channelBounds = parseBounds(channel, `package ${pkg.name} channel ${channel.name}`);
      if (channelBounds && selection.full) throw new FilterError(`package ${pkg.name} channel ${channel.name}: full and minVersion/maxVersion cannot be combined`);
    }
    if (packageBounds && selection.full) throw new FilterError(`package ${pkg.name}: full and minVersion/maxVersion cannot be combined`);
  }
}

/** The parsed bounds, or undefined when neither is set; errors name `where`. */
export function parseBounds(bounds: VersionBounds, where: string): Bounds | undefined {
  if (bounds.minVersion === undefined && bounds.maxVersion === undefined) return undefined;
  const parse = (text: string | undefined, field: string): Version | undefined => {
    if (text === undefined) return undefined;
    const version = parseTolerantVersion(text);
    if (!version) throw new FilterError(`${where}: ${field} "${text}" is not a semantic version (e.g. 1.2.3)`);
    return version;
  };
  const min = parse(bounds.minVersion, 'minVersion');
  const max = parse(bounds.maxVersion, 'maxVersion');
  if (min && max && compareVersions(min, max) > 0) throw new FilterError(`${where}: minVersion ${bounds.minVersion} is above maxVersion ${bounds.maxVersion}`);
  const text = [bounds.minVersion !== undefined ? `minVersion ${bounds.minVersion}` : '', bounds.maxVersion !== undefined ? `maxVersion ${bounds.maxVersion}` : '']
    .filter((t) => t !== '').join(', ');
  return { ...(min ? { min } : {}), ...(max ? { max } : {}), text };
}
