// The catalog selection flags shared by the commands that filter a catalog (`catalog list`, later
// `catalog mirror`): --package, --channel, --min-version, --max-version, --default-channel, --full,
// --skip-dependencies, or -c/--config with an ImageSetConfiguration; and how a filter's result is printed.
import { Command, InvalidArgumentError } from 'commander';
import type { FilterResult } from '../catalog/filter/index.js';
import { formatTable, listKept, type KeptRow } from '../catalog/listing.js';
import { catalogImages } from '../catalog/model.js';
import type { CatalogSelection, ChannelSelection, PackageSelection } from '../catalog/filter/selection.js';
import { collect, UsageError } from './common.js';

export interface SelectionFlags {
  package?: string[];
  channel?: string[];
  minVersion?: string[];
  maxVersion?: string[];
  defaultChannel?: string[];
  full?: boolean;
  skipDependencies?: boolean;
  config?: string;
}

export const SELECTION_HELP = `
Selecting what to keep (as oc-mirror's ImageSetConfiguration does; dependencies are added unless
--skip-dependencies):
  no selection flag            the head of every channel of every package
  --package NAME               only this package (repeatable): the head of each of its channels
  --channel PKG:CHANNEL        only these channels of PKG (repeatable); PKG's default channel must be
                               among them, or name another kept one with --default-channel PKG=CHANNEL
  --min-version PKG=VERSION    bundles of PKG from VERSION up; PKG:CHANNEL=VERSION for one channel
  --max-version PKG=VERSION    bundles up to VERSION, the highest kept becomes the channel head
  --full                       every bundle (of the selected packages and channels, or of the catalog)
  -c FILE                      the selection of an ImageSetConfiguration (mirror.operators[] entry
                               whose catalog is SRC, or its only entry); not combined with the flags
Bundles a kept bundle needs to upgrade to its channel head (replaces/skips) are kept too.
`;

/** Adds the selection flags; `-c/--config` only when `withConfig` (commands that read the whole file themselves leave it out). */
export function addSelectionFlags(cmd: Command, opts: { withConfig?: boolean } = {}): Command {
  cmd
    .option('--package <name>', 'keep this package (repeatable)', collect)
    .option('--channel <pkg:channel>', 'keep this channel of the package (repeatable)', (v: string, prev?: string[]) => collect(checked(v, 'channel'), prev))
    .option('--min-version <pkg[:channel]=version>', 'keep bundles from this version up (repeatable)', (v: string, prev?: string[]) => collect(checked(v, 'bound'), prev))
    .option('--max-version <pkg[:channel]=version>', 'keep bundles up to this version (repeatable)', (v: string, prev?: string[]) => collect(checked(v, 'bound'), prev))
    .option('--default-channel <pkg=channel>', 'the default channel of the package in the filtered catalog (repeatable)', (v: string, prev?: string[]) => collect(checked(v, 'default'), prev))
    .option('--full', 'keep every bundle, not only channel heads')
    .option('--skip-dependencies', 'do not add the bundles that kept bundles depend on');
  if (opts.withConfig) cmd.option('-c, --config <file>', 'take the selection from this ImageSetConfiguration');
  return cmd;
}

/** True when any selection flag (or -c) was given. */
export function hasSelection(flags: SelectionFlags): boolean {
  return flags.config !== undefined || flags.full === true || flags.skipDependencies === true ||
    [flags.package, flags.channel, flags.minVersion, flags.maxVersion, flags.defaultChannel].some((v) => v !== undefined && v.length > 0);
}

/**
 * The selection the flags describe for catalog `src`, or undefined when no selection flag was given.
 * Bad combinations and unusable ImageSetConfiguration files are UsageErrors.
 */
export async function selectionFromFlags(src: string, flags: SelectionFlags): Promise<CatalogSelection | undefined> {
  if (!hasSelection(flags)) return undefined;
  if (flags.config !== undefined) {
    const others = Object.entries(flags).filter(([k, v]) => k !== 'config' && selectionKeys.has(k) && v !== undefined && v !== false);
    if (others.length > 0) throw new UsageError(`-c/--config cannot be combined with ${others.map(([k]) => `--${kebab(k)}`).join(', ')}`);
    return selectionFromConfig(src, flags.config);
  }
  const packages = new Map<string, { name: string; minVersion?: string; maxVersion?: string; defaultChannel?: string; channels: Map<string, ChannelSelection> }>();
  const pkg = (name: string) => {
    let p = packages.get(name);
    if (!p) {
      p = { name, channels: new Map() };
      packages.set(name, p);
    }
    return p;
  };
  for (const name of flags.package ?? []) pkg(name);
  for (const value of flags.channel ?? []) {
    const [name, channel] = splitOnce(value, ':');
    pkg(name).channels.set(channel, pkg(name).channels.get(channel) ?? { name: channel });
  }
  for (const [field, values] of [['minVersion', flags.minVersion], ['maxVersion', flags.maxVersion]] as const) {
    for (const value of values ?? []) {
      const [target, version] = splitOnce(value, '=');
      const [name, channel] = target.includes(':') ? splitOnce(target, ':') : [target, undefined];
      const p = pkg(name);
      if (channel === undefined) {
        p[field] = version;
      } else {
        p.channels.set(channel, { ...(p.channels.get(channel) ?? { name: channel }), [field]: version });
      }
    }
  }
  for (const value of flags.defaultChannel ?? []) {
    const [name, channel] = splitOnce(value, '=');
    pkg(name).defaultChannel = channel;
  }
  const selected: PackageSelection[] = [...packages.values()].map(({ channels, ...p }) => ({ ...p, ...(channels.size > 0 ? { channels: [...channels.values()] } : {}) }));
  return {
    ...(flags.full ? { full: true } : {}),
    ...(flags.skipDependencies ? { skipDependencies: true } : {}),
    ...(selected.length > 0 ? { packages: selected } : {}),
  };
}

const selectionKeys = new Set(['package', 'channel', 'minVersion', 'maxVersion', 'defaultChannel', 'full', 'skipDependencies']);

async function selectionFromConfig(src: string, file: string): Promise<CatalogSelection> {
  const { loadImageSetConfiguration } = await import('../config/imageset.js');
  const config = await loadImageSetConfiguration(file);
  const matching = config.operators.filter((op) => op.catalog === src);
  if (matching.length === 1) return matching[0]!.selection;
  if (matching.length === 0 && config.operators.length === 1) return config.operators[0]!.selection;
  const catalogs = config.operators.map((op) => `${op.catalog} (${op.at})`);
  throw new UsageError(matching.length > 1
    ? `${file} lists catalog ${src} more than once: ${matching.map((op) => op.at).join(', ')}`
    : `${file} has no mirror.operators[] entry for ${src}; it has: ${catalogs.length ? catalogs.join(', ') : 'none'}`);
}

/** Syntax checks while commander parses, so a bad value is a usage error naming the flag. */
function checked(value: string, form: 'channel' | 'bound' | 'default'): string {
  const ok = form === 'channel' ? /^[^:=\s]+:[^:=\s]+$/ : form === 'bound' ? /^[^:=\s]+(:[^:=\s]+)?=\S+$/ : /^[^:=\s]+=[^:=\s]+$/;
  if (!ok.test(value)) {
    const expected = form === 'channel' ? 'PKG:CHANNEL' : form === 'bound' ? 'PKG=VERSION or PKG:CHANNEL=VERSION' : 'PKG=CHANNEL';
    throw new InvalidArgumentError(`expected ${expected}, got "${value}"`);
  }
  return value;
}

function splitOnce(value: string, separator: string): [string, string] {
  const at = value.indexOf(separator);
  return [value.slice(0, at), value.slice(at + 1)];
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * What a filter kept, for a preview or a run report: the kept bundles with their reasons, the bundles
 * added for dependencies, and totals; or all of it as JSON.
 */
export function formatFilterResult(result: FilterResult, json: boolean): string {
  const images = catalogImages(result.catalog);
  if (json) return JSON.stringify({ packages: result.packages, dependencies: result.dependencies, warnings: result.warnings, notes: result.notes, images }, null, 2);
  const rows = listKept(result);
  const lines = [keptTable(rows)];
  if (result.dependencies.length > 0) {
    lines.push('', 'dependencies:', ...result.dependencies.map((d) =>
      `  ${d.satisfiedBy.bundle} (package ${d.satisfiedBy.package}, channel ${d.satisfiedBy.channel}${d.packageAdded ? ', package added' : ''}) ` +
      `for ${d.requiredBy.bundle}: ${d.requirement}`));
  }
  const channels = result.packages.reduce((n, p) => n + p.channels.length, 0);
  const bundles = new Set(rows.map((r) => `${r.package}\0${r.bundle}`)).size;
  lines.push('', `kept: ${result.packages.length} packages, ${channels} channels, ${bundles} bundles, ${images.length} images`);
  return lines.join('\n');
}

/** The package and default channel on a package's first row only, the channel on a channel's first row only (the head comes first). */
function keptTable(rows: KeptRow[]): string {
  return formatTable(['PACKAGE', 'DEFAULT CHANNEL', 'CHANNEL', 'BUNDLE', 'VERSION', 'KEPT'], rows.map((r, i) => {
    const previous = rows[i - 1];
    const newPackage = previous?.package !== r.package;
    const newChannel = newPackage || previous?.channel !== r.channel;
    return [newPackage ? r.package : '', newPackage ? r.defaultChannel : '', newChannel ? r.channel : '', r.bundle, r.version, r.reason];
  }));
}
