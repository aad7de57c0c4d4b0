// Semantic versions and version ranges as OLM reads them (blang/semver, used by operator-registry for
// bundle versions, olm.package.required ranges and skipRange): ranges are comparisons joined by
// spaces (and) and `||` (or), operators < <= > >= = == != !, `x` wildcards; pre-releases compare like
// any other version (no npm-style pre-release exclusion).

export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Pre-release identifiers; empty for a release. */
  readonly pre: readonly (string | number)[];
}

const STRICT = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** A strict semantic version, or undefined (bundle versions that are not semver cannot be ranged). */
export function parseVersion(text: string): Version | undefined {
  const m = STRICT.exec(text.trim());
  if (!m) return undefined;
  const pre = m[4] === undefined ? [] : m[4].split('.').map((id) => (/^\d+$/.test(id) ? Number(id) : id));
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre };
}

/**
 * A version a person typed (minVersion, maxVersion): a leading `v` and missing minor/patch are
 * accepted (`v1.2` is 1.2.0), like blang's ParseTolerant.
 */
export function parseTolerantVersion(text: string): Version | undefined {
  let t = text.trim().replace(/^v/, '');
  const core = t.split(/[-+]/, 1)[0]!;
  const rest = t.slice(core.length);
  const parts = core.split('.');
  if (parts.length < 3 && parts.every((p) => /^\d+$/.test(p))) t = [...parts, '0', '0'].slice(0, 3).map((p) => String(Number(p))).join('.') + rest;
  return parseVersion(t);
}

export function compareVersions(a: Version, b: Version): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return Math.sign(core);
  if (a.pre.length === 0 || b.pre.length === 0) return Math.sign(b.pre.length - a.pre.length); // a release sorts after its pre-releases
  for (let i = 0; i < Math.max(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return Math.sign(x - y);
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** A parsed range: true when the version is in it. */
export type VersionRange = (v: Version) => boolean;

export class VersionRangeError extends Error {
  override name = 'VersionRangeError';
}

/** Parses a blang/semver range such as `>=1.2.0 <2.0.0 || 3.x`; throws VersionRangeError naming the bad part. */
export function parseRange(text: string): VersionRange {
  const alternatives = text.split('||').map((alt) => {
    const parts = joinLoneOperators(alt.trim().split(/\s+/).filter((p) => p !== ''));
    if (parts.length === 0) throw new VersionRangeError(`invalid version range "${text}": empty comparison`);
    return parts.map((p) => comparator(p, text));
  });
  return (v) => alternatives.some((all) => all.every((test) => test(v)));
}

/** blang accepts `>= 1.0.0`: an operator standing alone belongs to the next part. */
function joinLoneOperators(parts: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (/^[<>=!]+$/.test(parts[i]!) && i + 1 < parts.length) out.push(parts[i]! + parts[++i]!);
    else out.push(parts[i]!);
  }
  return out;
}

function comparator(part: string, whole: string): VersionRange {
  const m = /^(<=|>=|==|!=|<|>|=|!)?(.*)$/.exec(part)!;
  const op = m[1] ?? '';
  const body = m[2]!;
  const bad = () => new VersionRangeError(`invalid version range "${whole}": "${part}" is not a comparison with a semantic version`);
  const wildcard = /^(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/.exec(body);
  if (wildcard && (/[xX*]/.test(body) || wildcard[3] === undefined)) {
    // 1.x / 1.2.x / 1 / 1.2: the range of versions with that prefix (blang expands wildcards this way).
    const major = Number(wildcard[1]);
    const minorWild = wildcard[2] === undefined || /[xX*]/.test(wildcard[2]);
    const minor = minorWild ? 0 : Number(wildcard[2]);
    const low: Version = { major, minor, patch: 0, pre: [] };
    const high: Version = minorWild ? { major: major + 1, minor: 0, patch: 0, pre: [] } : { major, minor: minor + 1, patch: 0, pre: [] };
    const inside = (v: Version) => compareVersions(v, low) >= 0 && compareVersions(v, high) < 0;
    switch (op) {
      case '': case '=': case '==': return inside;
      case '!': case '!=': return (v) => !inside(v);
      case '>': return (v) => compareVersions(v, high) >= 0;
      case '>=': return (v) => compareVersions(v, low) >= 0;
      case '<': return (v) => compareVersions(v, low) < 0;
      case '<=': return (v) => compareVersions(v, high) < 0;
    }
  }
  const version = parseVersion(body);
  if (!version) throw bad();
  switch (op) {
    case '': case '=': case '==': return (v) => compareVersions(v, version) === 0;
    case '!': case '!=': return (v) => compareVersions(v, version) !== 0;
    case '>': return (v) => compareVersions(v, version) > 0;
    case '>=': return (v) => compareVersions(v, version) >= 0;
    case '<': return (v) => compareVersions(v, version) < 0;
    case '<=': return (v) => compareVersions(v, version) <= 0;
  }
  throw bad();
}
