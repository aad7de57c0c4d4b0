// One channel while filtering: which of its bundles are kept, its head, and the upgrade-path rule.
// A channel is valid for upstream (operator-registry's model validation) when it has one head (the
// entry no kept entry replaces or skips) and every kept bundle is on the replaces chain from that
// head or skipped by a bundle on it; anything else is a "stranded" bundle OLM rejects.
import type { Channel, ChannelEntry } from '../model.js';
import { FilterError } from './selection.js';
import { compareVersions, type Version } from './semver.js';

/** Why a bundle is in the filtered channel. */
export type KeepReason = 'head' | 'range' | 'full' | 'upgrade-path' | 'dependency' | 'default-channel';

/** A source channel with its entries by name and its bundles' versions. */
export class ChannelGraph {
  readonly entries: ReadonlyMap<string, ChannelEntry>;

  constructor(
    readonly packageName: string,
    readonly channel: Channel,
    readonly versionOf: (bundle: string) => Version | undefined,
  ) {
    this.entries = new Map(channel.entries.map((e) => [e.bundle, e]));
  }

  get name(): string {
    return this.channel.name;
  }

  /** The replaces chain from `head` (head first) through `allowed` bundles; ends at a missing, refused or repeated name. */
  chain(head: string, allowed: (bundle: string) => boolean): string[] {
    const chain: string[] = [];
    const seen = new Set<string>();
    for (let name: string | undefined = head; name !== undefined && this.entries.has(name) && !seen.has(name) && allowed(name);) {
      chain.push(name);
      seen.add(name);
      name = this.entries.get(name)!.replaces;
    }
    return chain;
  }

  /**
   * For each bundle that can upgrade to `head`: how far down the chain the path goes (0 = the head).
   * A bundle on the chain needs the chain down to itself; a bundle skipped by a chain member needs the chain down to that member.
   */
  reach(head: string, allowed: (bundle: string) => boolean): { chain: string[]; depthNeeded: Map<string, number> } {
    const chain = this.chain(head, allowed);
    const depthNeeded = new Map<string, number>();
    chain.forEach((name, i) => depthNeeded.set(name, i));
    chain.forEach((name, i) => {
      for (const skip of this.entries.get(name)!.skips) {
        if (this.entries.has(skip) && !depthNeeded.has(skip) && allowed(skip)) depthNeeded.set(skip, i);
      }
    });
    return { chain, depthNeeded };
  }

  /** `where` for messages: `package P channel C`. */
  get where(): string {
    return `package ${this.packageName} channel ${this.channel.name}`;
  }
}

/** The kept part of a channel. */
export class KeptChannel {
  /** Kept bundles with the first reason each was kept for. */
  readonly bundles = new Map<string, KeepReason>();

  constructor(
    readonly graph: ChannelGraph,
    /** The head of the filtered channel. */
    readonly head: string,
    /** With maxVersion, nothing newer may be kept, not even on an upgrade path. */
    readonly max: Version | undefined,
  ) {}

  readonly allowed = (bundle: string): boolean => {
    if (this.max === undefined) return true;
    const v = this.graph.versionOf(bundle);
    return v === undefined || compareVersions(v, this.max) <= 0;
  };

  keep(bundle: string, reason: KeepReason): boolean {
    if (this.bundles.has(bundle)) return false;
    this.bundles.set(bundle, reason);
    return true;
  }

  /**
   * Keeps the chain members every kept bundle needs to reach the head (returned as `added`) and drops
   * the bundles that cannot reach it (returned as `stranded`).
   */
  close(): { added: string[]; stranded: string[] } {
    const { chain, depthNeeded } = this.graph.reach(this.head, this.allowed);
    let deepest = 0;
    const stranded: string[] = [];
    for (const name of this.bundles.keys()) {
      const depth = depthNeeded.get(name);
      if (depth === undefined) stranded.push(name);
      else deepest = Math.max(deepest, depth);
    }
    for (const name of stranded) this.bundles.delete(name);
    const added = chain.slice(0, deepest + 1).filter((name) => this.keep(name, 'upgrade-path'));
    this.checkSingleHead();
    return { added, stranded };
  }

  /** Entries of the kept bundles, in the source channel's order. */
  entries(): ChannelEntry[] {
    return this.graph.channel.entries.filter((e) => this.bundles.has(e.bundle));
  }

  /** Upstream's head rule on what is kept: exactly one kept entry that no kept entry replaces or skips. */
  private checkSingleHead(): void {
    const incoming = new Set<string>();
    for (const e of this.entries()) {
      if (e.replaces !== undefined && this.bundles.has(e.replaces)) incoming.add(e.replaces);
      for (const s of e.skips) if (this.bundles.has(s)) incoming.add(s);
    }
    const heads = [...this.bundles.keys()].filter((b) => !incoming.has(b));
    if (heads.length !== 1 || heads[0] !== this.head) {
      throw new FilterError(`${this.graph.where}: the kept bundles (${[...this.bundles.keys()].join(', ')}) do not have the single head ${this.head} ` +
        `(heads: ${heads.join(', ') || 'none'}): the upgrade graph does not allow this selection`);
    }
  }
}
