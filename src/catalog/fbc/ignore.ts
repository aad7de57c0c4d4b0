// `.indexignore` files of a file-based catalog: gitignore-style patterns, each relative to the folder
// holding the file, deeper files and later lines taking precedence, `!` re-including.
// Semantics follow the gitignore matcher upstream uses (go-git's): a pattern without a slash matches a
// name at any depth, one with a slash is anchored to its folder, `**` spans folders, a trailing `/`
// only matches folders, and a matched folder takes everything below it along.

interface Pattern {
  readonly domain: readonly string[];
  readonly segments: readonly RegExp[] | 'anywhere';
  readonly name?: RegExp;
  readonly negate: boolean;
  readonly dirOnly: boolean;
}

const GLOBSTAR = /^\*\*$/;

export class IgnoreMatcher {
  private readonly patterns: Pattern[] = [];

  /** Adds the lines of an `.indexignore` found in `folder` (relative to the catalog root, '' for the root). */
  add(folder: string, content: string): void {
    const domain = folder === '' ? [] : folder.split('/');
    for (const raw of content.split(/\r?\n/)) {
      let line = raw.replace(/(?<!\\)\s+$/, '');
      if (line === '' || line.startsWith('#')) continue;
      const negate = line.startsWith('!');
      if (negate) line = line.slice(1);
      const dirOnly = line.endsWith('/');
      if (dirOnly) line = line.slice(0, -1);
      if (line === '') continue;
      if (line.includes('/')) {
        const segments = line.replace(/^\//, '').split('/').map((s) => (s === '**' ? GLOBSTAR : globToRegExp(s)));
        this.patterns.push({ domain, segments, negate, dirOnly });
      } else {
        this.patterns.push({ domain, segments: 'anywhere', name: globToRegExp(line), negate, dirOnly });
      }
    }
  }

  /** Whether a file (`isDir` false) or folder at `path` (relative, `/`-separated) is ignored. */
  matches(path: string, isDir: boolean): boolean {
    const parts = path.split('/');
    let ignored = false;
    for (const pattern of this.patterns) {
      if (patternMatches(pattern, parts, isDir)) ignored = !pattern.negate;
    }
    return ignored;
  }
}

function patternMatches(pattern: Pattern, parts: readonly string[], isDir: boolean): boolean {
  if (parts.length <= pattern.domain.length || pattern.domain.some((d, i) => parts[i] !== d)) return false;
  const rel = parts.slice(pattern.domain.length);
  if (pattern.segments === 'anywhere') {
    const i = rel.findIndex((name) => pattern.name!.test(name));
    return i >= 0 && !(pattern.dirOnly && !isDir && i === rel.length - 1);
  }
  return prefixMatch(pattern.segments, rel, 0, 0, pattern.dirOnly, isDir);
}

/** True when the pattern matches `rel` itself or one of its parent folders. */
function prefixMatch(segments: readonly RegExp[], rel: readonly string[], si: number, ri: number, dirOnly: boolean, isDir: boolean): boolean {
  if (si === segments.length) {
    // The whole pattern is used up: `rel` itself matched, or a parent folder of it did.
    return ri < rel.length || !(dirOnly && !isDir);
  }
  if (segments[si] === GLOBSTAR) {
    for (let skip = ri; skip <= rel.length; skip++) {
      if (prefixMatch(segments, rel, si + 1, skip, dirOnly, isDir)) return true;
    }
    return false;
  }
  return ri < rel.length && segments[si]!.test(rel[ri]!) && prefixMatch(segments, rel, si + 1, ri + 1, dirOnly, isDir);
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) source += escapeRegExp(glob[++i]!);
    else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        source += `[${body}]`;
        i = end;
      }
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
