// Filters a catalog model down to what a selection asks for, plus the dependencies of what is kept,
// and says what was kept and why. The semantics (README "Filtering"):
// - nothing selected: the head of every channel of every package; `full` alone: the whole catalog;
// - a package without channels: the head of each of its channels; with channels: only those, and the
//   package's default channel must be kept or another kept channel named with defaultChannel;
// - minVersion/maxVersion: the channel's bundles in range; without maxVersion the channel head is kept
//   and stays the head, with it the highest kept bundle becomes the head and nothing newer is kept;
// - every kept bundle must upgrade to its channel's head along replaces/skips: the bundles on that path
//   are kept too, bundles that cannot are reported as stranded and left out;
// - dependencies (olm.package.required, olm.gvk.required) bring in the providing package's best bundle,
//   transitively, unless skipDependencies.
import { UnknownPackageError } from '../listing.js';
import { sortEntries } from '../graph.js';
import type { Bundle, Catalog, Channel, ChannelEntry, Package } from '../model.js';
import { compareCodeUnits } from '../../util/compare.js';
import { ChannelGraph, KeptChannel, type KeepReason } from './channel.js';
import { ApiProviders, describeRequirement, requirementsOf, satisfies, type Requirement } from './dependencies.js';
import { checkSelection, FilterError, parseBounds, type Bounds, type CatalogSelection, type PackageSelection } from './selection.js';
import { compareVersions, parseTolerantVersion, type Version } from './semver.js';

export { FilterError } from './selection.js';
export type { CatalogSelection, ChannelSelection, PackageSelection, VersionBounds } from './selection.js';
export type { KeepReason } from './channel.js';

export interface KeptBundleReport {
  readonly bundle: string;
  readonly version: string;
  readonly reason: KeepReason;
}

export interface KeptChannelReport {
  readonly name: string;
  readonly head: string;
  /** Head first, then down the upgrade graph. */
  readonly bundles: readonly KeptBundleReport[];
}

export interface KeptPackageReport {
  readonly name: string;
  readonly defaultChannel: string;
  /** `selected`: asked for (or every package, when none was named); `dependency`: brought in by a dependency. */
  readonly origin: 'selected' | 'dependency';
  readonly channels: readonly KeptChannelReport[];
}

export interface DependencyReport {
  /** The kept bundle that needs it. */
  readonly requiredBy: { readonly package: string; readonly bundle: string };
  /** e.g. `package bar <0.2.0`, `API test.bar/v1alpha1 Bar`. */
  readonly requirement: string;
  readonly satisfiedBy: { readonly package: string; readonly channel: string; readonly bundle: string };
  /** True when the package was not kept before and came in for this dependency. */
  readonly packageAdded: boolean;
}

export interface FilterResult {
  /** The filtered catalog (every channel valid for OLM: one head, no stranded bundle). */
  readonly catalog: Catalog;
  /** Kept packages in catalog order. */
  readonly packages: readonly KeptPackageReport[];
  /** Each bundle added for a dependency, with the bundle that needed it, in the order they were resolved. */
  readonly dependencies: readonly DependencyReport[];
  /** Unsatisfiable or unresolved dependencies and stranded bundles. */
  readonly warnings: readonly string[];
  /** Channels left out by a package-level version range. */
  readonly notes: readonly string[];
}

/** Throws FilterError (or UnknownPackageError) when the selection cannot be applied to this catalog. */
export function filterCatalog(catalog: Catalog, selection: CatalogSelection = {}): FilterResult {
  checkSelection(selection);
  return new CatalogFilter(catalog, selection).run();
}

type ChannelMode = { kind: 'head' } | { kind: 'full' } | { kind: 'range'; bounds: Bounds; packageLevel: boolean };

class PackageState {
  readonly channels = new Map<string, KeptChannel>();
  defaultChannel: string;

  constructor(
    readonly pkg: Package,
    readonly origin: 'selected' | 'dependency',
  ) {
    this.defaultChannel = pkg.defaultChannel;
  }

  keptBundles(): Set<string> {
    const names = new Set<string>();
    for (const channel of this.channels.values()) for (const name of channel.bundles.keys()) names.add(name);
    return names;
  }
}

class CatalogFilter {
  private readonly packages: Map<string, Package>;
  private readonly bundles = new Map<string, Bundle>();
  private readonly versions = new Map<string, Version | undefined>();
  private readonly graphs = new Map<string, ChannelGraph>();
  private readonly states = new Map<string, PackageState>();
  private readonly providers: ApiProviders;
  private readonly dependencies: DependencyReport[] = [];
  private readonly warnings: string[] = [];
  private readonly notes: string[] = [];

  constructor(
    private readonly catalog: Catalog,
    private readonly selection: CatalogSelection,
  ) {
    this.packages = new Map(catalog.packages.map((p) => [p.name, p]));
    for (const pkg of catalog.packages) {
      for (const b of pkg.bundles) {
        this.bundles.set(key(pkg.name, b.name), b);
        this.versions.set(key(pkg.name, b.name), parseTolerantVersion(b.version));
      }
    }
    this.providers = new ApiProviders(catalog);
  }

  run(): FilterResult {
    const named = this.selection.packages ?? [];
    const selections: PackageSelection[] = named.length > 0 ? [...named] : this.catalog.packages.map((p) => ({ name: p.name }));
    for (const sel of selections) this.selectPackage(sel);
    if (!this.selection.skipDependencies) this.resolveDependencies();
    const wholeCatalog = this.selection.full === true && named.length === 0;
    return {
      // `full` alone keeps everything as it was read, loose SQLite bundles included.
      catalog: wholeCatalog ? this.catalog : this.filteredCatalog(),
      packages: this.reports(),
      dependencies: this.dependencies,
      warnings: this.warnings,
      notes: this.notes,
    };
  }

  private selectPackage(sel: PackageSelection): void {
    const pkg = this.packages.get(sel.name);
    if (!pkg) throw new UnknownPackageError(sel.name, [...this.packages.keys()].sort(compareCodeUnits));
    const state = new PackageState(pkg, 'selected');
    const packageBounds = parseBounds(sel, `package ${pkg.name}`);
    const chosen = sel.channels !== undefined && sel.channels.length > 0
      ? sel.channels.map((c) => ({ graph: this.graph(pkg, c.name), bounds: parseBounds(c, `package ${pkg.name} channel ${c.name}`), packageLevel: false }))
      : pkg.channels.map((c) => ({ graph: this.graph(pkg, c.name), bounds: packageBounds, packageLevel: true }));
    for (const { graph, bounds, packageLevel } of chosen) {
      const mode: ChannelMode = this.selection.full ? { kind: 'full' } : bounds ? { kind: 'range', bounds, packageLevel } : { kind: 'head' };
      const kept = this.selectChannel(graph, mode);
      if (kept) {
        this.close(kept);
        state.channels.set(graph.name, kept);
      }
    }
    if (packageBounds && state.channels.size === 0) {
      throw new FilterError(`package ${pkg.name}: no bundle in ${packageBounds.text}; its versions are ${this.versionList(pkg.bundles.map((b) => b.name), pkg.name)}`);
    }
    const kept = [...state.channels.keys()];
    if (sel.defaultChannel !== undefined) {
      if (!state.channels.has(sel.defaultChannel)) {
        throw new FilterError(`package ${pkg.name}: defaultChannel ${sel.defaultChannel} is not one of the kept channels (${kept.join(', ')})`);
      }
      state.defaultChannel = sel.defaultChannel;
    } else if (pkg.defaultChannel !== '' && !state.channels.has(pkg.defaultChannel)) {
      throw new FilterError(`package ${pkg.name}: its default channel ${pkg.defaultChannel} is not kept (kept: ${kept.join(', ')}); ` +
        'select that channel too, or set defaultChannel to one of the kept channels');
    }
    this.states.set(pkg.name, state);
  }

  private graph(pkg: Package, channelName: string): ChannelGraph {
    const k = key(pkg.name, channelName);
    let graph = this.graphs.get(k);
    if (!graph) {
      const channel = pkg.channels.find((c) => c.name === channelName);
      if (!channel) throw new FilterError(`package ${pkg.name} has no channel ${channelName}; it has: ${pkg.channels.map((c) => c.name).sort(compareCodeUnits).join(', ')}`);
      graph = new ChannelGraph(pkg.name, channel, (bundle) => this.versions.get(key(pkg.name, bundle)));
      this.graphs.set(k, graph);
    }
    return graph;
  }

  /** The kept part of one channel before the upgrade-path rule; undefined when a package-level range leaves it out. */
  private selectChannel(graph: ChannelGraph, mode: ChannelMode): KeptChannel | undefined {
    const head = graph.channel.head;
    if (mode.kind === 'head' || mode.kind === 'full') {
      const kept = new KeptChannel(graph, head, undefined);
      kept.keep(head, mode.kind);
      if (mode.kind === 'full') for (const e of graph.channel.entries) kept.keep(e.bundle, 'full');
      return kept;
    }
    const { min, max } = mode.bounds;
    const inRange = graph.channel.entries.map((e) => e.bundle).filter((b) => {
      const v = graph.versionOf(b);
      return v !== undefined && (!min || compareVersions(v, min) >= 0) && (!max || compareVersions(v, max) <= 0);
    });
    if (inRange.length === 0) {
      const what = `${graph.where}: no bundle in ${mode.bounds.text}`;
      if (!mode.packageLevel) throw new FilterError(`${what}; the channel has versions ${this.versionList(graph.channel.entries.map((e) => e.bundle), graph.packageName)}`);
      this.notes.push(`${what}: channel left out`);
      return undefined;
    }
    let kept: KeptChannel;
    if (max) {
      const newHead = inRange.reduce((best, b) => (compareVersions(graph.versionOf(b)!, graph.versionOf(best)!) > 0 ? b : best));
      kept = new KeptChannel(graph, newHead, max);
    } else {
      kept = new KeptChannel(graph, head, undefined);
      kept.keep(head, 'head');
    }
    for (const b of inRange) kept.keep(b, 'range');
    return kept;
  }

  /** Applies the upgrade-path rule; stranded bundles become warnings. */
  private close(kept: KeptChannel): string[] {
    const { added, stranded } = kept.close();
    for (const name of stranded) {
      const version = this.bundles.get(key(kept.graph.packageName, name))?.version ?? '';
      this.warnings.push(`${kept.graph.where}: ${name}${version ? ` (${version})` : ''} cannot upgrade to the channel head ${kept.head} ` +
        'along replaces/skips within the selection: left out (stranded)');
    }
    return added;
  }

  private resolveDependencies(): void {
    const queue: [string, string][] = [];
    for (const state of this.states.values()) for (const name of state.keptBundles()) queue.push([state.pkg.name, name]);
    const seen = new Set<string>();
    const unresolved = new Set<string>();
    for (let i = 0; i < queue.length; i++) {
      const [pkgName, name] = queue[i]!;
      if (seen.has(key(pkgName, name))) continue;
      seen.add(key(pkgName, name));
      const bundle = this.bundles.get(key(pkgName, name))!;
      for (const requirement of requirementsOf(bundle)) {
        const needs = `${name} (package ${pkgName}) requires ${describeRequirement(requirement)}`;
        if (requirement.kind === 'unresolved') {
          const warning = `${needs}: not resolved (${requirement.why})`;
          if (!unresolved.has(warning)) this.warnings.push(warning);
          unresolved.add(warning);
          continue;
        }
        if (this.satisfiedByKept(requirement)) continue;
        const found = this.findProvider(requirement);
        if (!found) {
          this.warnings.push(`${needs}, which no bundle in the catalog provides: left unsatisfied`);
          continue;
        }
        const added = this.keepDependency(found.graph, found.bundle);
        this.dependencies.push({
          requiredBy: { package: pkgName, bundle: name },
          requirement: describeRequirement(requirement),
          satisfiedBy: { package: found.graph.packageName, channel: found.graph.name, bundle: found.bundle },
          packageAdded: added.packageAdded,
        });
        for (const b of added.bundles) queue.push([found.graph.packageName, b]);
      }
    }
  }

  private satisfiedByKept(r: Requirement): boolean {
    const candidates = r.kind === 'package' ? [r.packageName] : r.kind === 'api' ? this.providers.packages(r.api) : [];
    return candidates.some((pkgName) => {
      const state = this.states.get(pkgName);
      if (!state) return false;
      for (const name of state.keptBundles()) {
        if (satisfies(r, this.bundles.get(key(pkgName, name))!, this.versions.get(key(pkgName, name)))) return true;
      }
      return false;
    });
  }

  /** The providing package's best bundle; for an API, packages already kept are preferred, then by name. */
  private findProvider(r: Requirement): { graph: ChannelGraph; bundle: string } | undefined {
    const names = r.kind === 'package' ? [r.packageName] : r.kind === 'api' ? this.providers.packages(r.api) : [];
    names.sort((a, b) => Number(this.states.has(b)) - Number(this.states.has(a)) || compareCodeUnits(a, b));
    for (const name of names) {
      const pkg = this.packages.get(name);
      if (!pkg) continue;
      const found = this.bestBundle(pkg, (b) => satisfies(r, this.bundles.get(key(name, b))!, this.versions.get(key(name, b))));
      if (found) return found;
    }
    return undefined;
  }

  /**
   * The head of the default channel when it qualifies, else the highest qualifying version that can
   * upgrade to its channel's head; the default channel first, then the others by name.
   */
  private bestBundle(pkg: Package, accepts: (bundle: string) => boolean): { graph: ChannelGraph; bundle: string } | undefined {
    const channels = [...pkg.channels].sort((a, b) => Number(b.name === pkg.defaultChannel) - Number(a.name === pkg.defaultChannel) || compareCodeUnits(a.name, b.name));
    for (const channel of channels) {
      const graph = this.graph(pkg, channel.name);
      const kept = this.states.get(pkg.name)?.channels.get(channel.name);
      const head = kept?.head ?? channel.head;
      if (accepts(head)) return { graph, bundle: head };
      const { depthNeeded } = graph.reach(head, kept?.allowed ?? (() => true));
      let best: string | undefined;
      for (const [name, depth] of depthNeeded) {
        if (!accepts(name)) continue;
        if (best === undefined || this.isBetter(pkg.name, name, depth, best, depthNeeded.get(best)!)) best = name;
      }
      if (best !== undefined) return { graph, bundle: best };
    }
    return undefined;
  }

  private isBetter(pkgName: string, a: string, depthA: number, b: string, depthB: number): boolean {
    const va = this.versions.get(key(pkgName, a));
    const vb = this.versions.get(key(pkgName, b));
    if (va && vb && compareVersions(va, vb) !== 0) return compareVersions(va, vb) > 0;
    if (Boolean(va) !== Boolean(vb)) return Boolean(va);
    return depthA < depthB;
  }

  /** Keeps `bundle` in its channel (and the channel's head path; a new package also gets its default channel's head). */
  private keepDependency(graph: ChannelGraph, bundle: string): { packageAdded: boolean; bundles: string[] } {
    const pkg = this.packages.get(graph.packageName)!;
    let state = this.states.get(pkg.name);
    const packageAdded = state === undefined;
    if (!state) {
      state = new PackageState(pkg, 'dependency');
      this.states.set(pkg.name, state);
    }
    const added: string[] = [];
    let kept = state.channels.get(graph.name);
    if (!kept) {
      kept = new KeptChannel(graph, graph.channel.head, undefined);
      state.channels.set(graph.name, kept);
    }
    if (kept.keep(bundle, 'dependency')) added.push(bundle);
    added.push(...this.close(kept));
    if (pkg.defaultChannel !== '' && !state.channels.has(pkg.defaultChannel)) {
      // A package needs its default channel; its head keeps the package valid without changing where subscriptions go.
      const defaultGraph = this.graph(pkg, pkg.defaultChannel);
      const defaultKept = new KeptChannel(defaultGraph, defaultGraph.channel.head, undefined);
      defaultKept.keep(defaultGraph.channel.head, 'default-channel');
      state.channels.set(pkg.defaultChannel, defaultKept);
      added.push(defaultGraph.channel.head);
    }
    return { packageAdded, bundles: added };
  }

  private filteredCatalog(): Catalog {
    const packages: Package[] = [];
    for (const pkg of this.catalog.packages) {
      const state = this.states.get(pkg.name);
      if (!state) continue;
      const channels: Channel[] = pkg.channels.flatMap((c) => {
        const kept = state.channels.get(c.name);
        return kept ? [{ name: c.name, head: kept.head, entries: keptEntries(kept) }] : [];
      });
      const names = state.keptBundles();
      packages.push({ name: pkg.name, defaultChannel: state.defaultChannel, channels, bundles: pkg.bundles.filter((b) => names.has(b.name)) });
    }
    return { packages };
  }

  private reports(): KeptPackageReport[] {
    return this.catalog.packages.flatMap((pkg) => {
      const state = this.states.get(pkg.name);
      if (!state) return [];
      const channels = pkg.channels.flatMap((c) => {
        const kept = state.channels.get(c.name);
        if (!kept) return [];
        const bundles = keptEntries(kept).map((e) => ({
          bundle: e.bundle,
          version: this.bundles.get(key(pkg.name, e.bundle))?.version ?? '',
          reason: kept.bundles.get(e.bundle)!,
        }));
        return [{ name: c.name, head: kept.head, bundles }];
      });
      return [{ name: pkg.name, defaultChannel: state.defaultChannel, origin: state.origin, channels }];
    });
  }

  /** Distinct versions of the bundles, ascending, for "versions that exist" messages. */
  private versionList(bundleNames: readonly string[], pkgName: string): string {
    const versions = new Map<string, Version | undefined>();
    for (const name of bundleNames) {
      const text = this.bundles.get(key(pkgName, name))?.version ?? '';
      if (text !== '') versions.set(text, this.versions.get(key(pkgName, name)));
    }
    const sorted = [...versions].sort(([ta, a], [tb, b]) => (a && b ? compareVersions(a, b) : a ? -1 : b ? 1 : compareCodeUnits(ta, tb)));
    return sorted.length ? sorted.map(([t]) => t).join(', ') : '(none with a version)';
  }
}

/**
 * The kept entries with their depth in the filtered channel: chain position from the head, and one
 * more than the skipping chain member for bundles only skipped.
 */
function keptEntries(kept: KeptChannel): ChannelEntry[] {
  const { depthNeeded, chain } = kept.graph.reach(kept.head, kept.allowed);
  const onChain = new Set(chain);
  return sortEntries(kept.entries().map((e) => ({ ...e, depth: depthNeeded.get(e.bundle)! + (onChain.has(e.bundle) ? 0 : 1) })));
}

function key(a: string, b: string): string {
  return `${a}\0${b}`;
}
