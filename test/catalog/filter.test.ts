// The catalog filter: upstream's own expectations (fbc/index-declcfgs), then a generated catalog in the
// three formats with channels, skips, skipRange, version ranges and package and API dependencies, and
// the filtered outputs (file-based catalog folder, pruned SQLite database queried with sqlite3).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { readFileBasedCatalog } from '../../src/catalog/fbc/index.js';
import { writeFileBasedCatalog } from '../../src/catalog/fbc/write.js';
import { blockedImages } from '../../src/catalog/filter/blocked.js';
import { writeFilteredCatalog } from '../../src/catalog/filter/output.js';
import { FilterError, filterCatalog, type CatalogSelection, type FilterResult } from '../../src/catalog/filter/index.js';
import { compareVersions, parseRange, parseTolerantVersion, parseVersion } from '../../src/catalog/filter/semver.js';
import { UnknownPackageError } from '../../src/catalog/listing.js';
import { allBundles, catalogImages, type Catalog } from '../../src/catalog/model.js';
import { openCatalog } from '../../src/catalog/open.js';
import { readCatalogDatabase } from '../../src/catalog/sqlite/index.js';
import { writePrunedDatabase } from '../../src/catalog/sqlite/prune.js';
import { removeNow } from '../support/cleanup.js';
import { fixturesDir, fixturesMissing } from '../support/paths.js';
import { GADGET_RANGE, writeFilterCatalogs, type FilterCatalogs } from './filter-synthetic.js';

const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-filter-'));
after(() => removeNow(dir));

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** What a catalog holds, in a form independent of source order: packages, channels, graph edges, bundles. */
function shape(catalog: Catalog) {
  return [...catalog.packages].sort(byName).map((p) => ({
    name: p.name,
    defaultChannel: p.defaultChannel,
    channels: [...p.channels].sort(byName).map((c) => ({
      name: c.name,
      head: c.head,
      entries: [...c.entries].sort((a, b) => (a.bundle < b.bundle ? -1 : 1)).map((e) => ({ bundle: e.bundle, replaces: e.replaces, skips: e.skips, skipRange: e.skipRange })),
    })),
    bundles: p.bundles.map((b) => b.name).sort(),
  }));
}

/** `package/channel: bundle:reason ...` per kept channel, to compare what was kept and why at a glance. */
function kept(result: FilterResult): string[] {
  return result.packages.flatMap((p) => p.channels.map((c) => `${p.name}/${c.name}: ${c.bundles.map((b) => `${b.bundle}:${b.reason}`).join(' ')}`)).sort();
}

describe('version ranges as OLM reads them', () => {
  test('comparisons, and/or, wildcards, pre-releases', () => {
    const inRange = (range: string, version: string) => parseRange(range)(parseVersion(version)!);
    assert.ok(inRange('>=1.0.0 <2.0.0', '1.5.0'));
    assert.ok(!inRange('>=1.0.0 <2.0.0', '2.0.0'));
    assert.ok(inRange('<1.0.0 || >=3.0.0', '3.1.0'));
    assert.ok(inRange('>= 1.2.0', '1.2.0'), 'an operator standing alone belongs to the next part');
    assert.ok(inRange('1.x', '1.9.3') && !inRange('1.x', '2.0.0'));
    assert.ok(inRange('<4.2.0-0', '4.1.9') && inRange('<4.2.0', '4.2.0-rc.1'), 'pre-releases compare like any version');
    assert.ok(inRange('!=1.0.0', '1.0.1') && !inRange('!1.0.0', '1.0.0'));
    assert.throws(() => parseRange('>=one'), /invalid version range ">=one"/);
    assert.equal(compareVersions(parseVersion('1.0.0-alpha.1')!, parseVersion('1.0.0-alpha.beta')!), -1);
    assert.equal(compareVersions(parseTolerantVersion('v1.2')!, parseVersion('1.2.0')!), 0);
  });
});

describe('upstream expectations (fbc/index-declcfgs, opm alpha diff)', { skip: fixturesMissing() }, () => {
  const declcfgs = join(fixturesDir, 'fbc', 'index-declcfgs');
  let latest: Catalog;
  before(async () => {
    latest = await readFileBasedCatalog(join(declcfgs, 'latest'));
  });

  const cases: [string, CatalogSelection][] = [
    ['exp-headsonly', {}],
    // "all of package baz" on top of heads: every baz version from the lowest up
    ['exp-include-pkg', { packages: [{ name: 'bar' }, { name: 'baz', minVersion: '0.0.0' }, { name: 'foo' }] }],
    // upstream: baz channel stable from version 1.0.0 (the same output as for the whole channel)
    ['exp-include-channel', { packages: [{ name: 'bar' }, { name: 'baz', channels: [{ name: 'stable', minVersion: '1.0.0' }] }, { name: 'foo' }] }],
  ];
  for (const [expected, selection] of cases) {
    test(`${expected}: the filter keeps what upstream expects, and the written folder reads back the same`, async () => {
      const want = await readFileBasedCatalog(join(declcfgs, expected));
      const result = filterCatalog(latest, selection);
      assert.deepEqual(shape(result.catalog), shape(want));
      assert.deepEqual(result.warnings, []);
      const out = join(dir, expected);
      await writeFileBasedCatalog(result.catalog, out);
      const back = await readFileBasedCatalog(out);
      assert.deepEqual(shape(back), shape(want));
      // bundles whole: properties (manifests included), images, APIs, dependencies
      const bundles = (c: Catalog) => allBundles(c).sort(byName);
      assert.deepEqual(bundles(back), bundles(want));
      assert.deepEqual(catalogImages(back), catalogImages(want));
    });
  }

  test('heads only: bar.v0.1.0 is added for foo.v0.3.1 (package bar <0.2.0) and bar.v0.2.0 for its upgrade path', () => {
    const result = filterCatalog(latest);
    assert.deepEqual(kept(result), [
      'bar/alpha: bar.v1.0.0:head bar.v0.2.0:upgrade-path bar.v0.1.0:dependency',
      'bar/stable: bar.v1.0.0:head',
      'baz/stable: baz.v1.1.0:head',
      'foo/beta: foo.v0.3.1:head',
    ]);
    assert.deepEqual(result.dependencies, [{
      requiredBy: { package: 'foo', bundle: 'foo.v0.3.1' },
      requirement: 'package bar <0.2.0',
      satisfiedBy: { package: 'bar', channel: 'alpha', bundle: 'bar.v0.1.0' },
      packageAdded: false,
    }]);
  });

  test('an unsatisfiable dependency is a warning naming both sides', () => {
    const result = filterCatalog(latest, { packages: [{ name: 'foo', channels: [{ name: 'beta', maxVersion: '0.2.0' }] }] });
    assert.ok(result.warnings.includes('foo.v0.2.0 (package foo) requires package bar <0.1.0, which no bundle in the catalog provides: left unsatisfied'), result.warnings.join('\n'));
  });
});

describe('a generated catalog in the three formats', () => {
  let catalogs: FilterCatalogs;
  const formats = ['manifests', 'sqlite', 'fbc'] as const;
  const loaded = new Map<string, Catalog>();
  before(async () => {
    catalogs = await writeFilterCatalogs(join(dir, 'generated'));
    for (const format of formats) loaded.set(format, (await openCatalog(catalogs[format])).catalog);
  });
  /** The package manifest format has no package dependencies: gadget only comes in from the other two. */
  const hasPackageDependency = (format: string) => format !== 'manifests';

  for (const format of formats) {
    describe(format, () => {
      test('a channel from minVersion: the head stays, skipped bundles ride on the chain, dependencies come in transitively', () => {
        const result = filterCatalog(loaded.get(format)!, { packages: [{ name: 'widget', channels: [{ name: 'stable', minVersion: '1.1.0' }] }] });
        assert.deepEqual(kept(result), [
          'gear-op/stable: gear-op.v0.2.0:dependency',
          ...(hasPackageDependency(format) ? ['gadget/stable: gadget.v2.0.0:upgrade-path gadget.v1.1.0:dependency'] : []),
          'widget/stable: widget.v1.3.0:head widget.v1.2.0:range widget.v1.1.0:range',
        ].sort());
        const deps = result.dependencies.map((d) => `${d.requiredBy.bundle} -> ${d.satisfiedBy.bundle} (${d.requirement}${d.packageAdded ? ', package added' : ''})`).sort();
        assert.deepEqual(deps, [
          'widget.v1.3.0 -> gear-op.v0.2.0 (API example.com/v1 Gear, package added)',
          ...(hasPackageDependency(format) ? [`widget.v1.3.0 -> gadget.v1.1.0 (package gadget ${GADGET_RANGE}, package added)`] : []),
        ].sort());
        assert.deepEqual(result.warnings, []);
        const widget = result.catalog.packages.find((p) => p.name === 'widget')!;
        assert.deepEqual(widget.channels.map((c) => c.name), ['stable']);
        assert.equal(widget.channels[0]!.entries.find((e) => e.bundle === 'widget.v1.2.0')!.skipRange, '<1.2.0', 'skipRange is kept');
      });

      test('maxVersion pins the head; a bundle that cannot reach it is reported as stranded; defaultChannel moves', () => {
        const result = filterCatalog(loaded.get(format)!, {
          skipDependencies: true,
          packages: [{ name: 'widget', defaultChannel: 'fast', channels: [{ name: 'fast', maxVersion: '1.9.0' }] }],
        });
        assert.deepEqual(kept(result), ['widget/fast: widget.v1.4.0:range widget.v1.3.0:range widget.v1.2.0:range widget.v1.0.0:range widget.v1.1.0:range']);
        assert.deepEqual(result.warnings, ['package widget channel fast: widget.v1.3.5 (1.3.5) cannot upgrade to the channel head widget.v1.4.0 along replaces/skips within the selection: left out (stranded)']);
        const [widget] = result.catalog.packages;
        assert.equal(widget!.defaultChannel, 'fast');
        assert.equal(widget!.channels[0]!.head, 'widget.v1.4.0');
      });

      test('heads only by default; skipDependencies keeps dependencies out', () => {
        const heads = filterCatalog(loaded.get(format)!);
        assert.deepEqual(kept(heads), [
          hasPackageDependency(format) ? 'gadget/stable: gadget.v2.0.0:head gadget.v1.1.0:dependency' : 'gadget/stable: gadget.v2.0.0:head',
          'gear-op/stable: gear-op.v0.2.0:head',
          'widget/fast: widget.v2.0.0:head',
          'widget/stable: widget.v1.3.0:head',
        ]);
        const alone = filterCatalog(loaded.get(format)!, { skipDependencies: true, packages: [{ name: 'widget' }] });
        assert.deepEqual(alone.catalog.packages.map((p) => p.name), ['widget']);
        assert.deepEqual(alone.dependencies, []);
      });

      test('full keeps every bundle; errors name what is wrong and what exists', () => {
        const whole = filterCatalog(loaded.get(format)!, { full: true });
        assert.equal(whole.catalog, loaded.get(format), 'full alone keeps the catalog as read');
        const full = filterCatalog(loaded.get(format)!, { full: true, skipDependencies: true, packages: [{ name: 'gear-op' }] });
        assert.deepEqual(allBundles(full.catalog).map((b) => b.name).sort(), ['gear-op.v0.1.0', 'gear-op.v0.2.0']);

        const catalog = loaded.get(format)!;
        assert.throws(() => filterCatalog(catalog, { packages: [{ name: 'widget', channels: [{ name: 'stable', minVersion: '3.0.0' }] }] }),
          (err: Error) => err instanceof FilterError && /package widget channel stable: no bundle in minVersion 3\.0\.0; the channel has versions 1\.0\.0, 1\.1\.0, 1\.2\.0, 1\.3\.0$/.test(err.message));
        assert.throws(() => filterCatalog(catalog, { packages: [{ name: 'widget', minVersion: '5.0.0' }] }),
          /package widget: no bundle in minVersion 5\.0\.0; its versions are 1\.0\.0, 1\.1\.0, 1\.2\.0, 1\.3\.0, 1\.3\.5, 1\.4\.0, 2\.0\.0/);
        assert.throws(() => filterCatalog(catalog, { packages: [{ name: 'widget', channels: [{ name: 'fast' }] }] }),
          /package widget: its default channel stable is not kept \(kept: fast\); select that channel too, or set defaultChannel/);
        assert.throws(() => filterCatalog(catalog, { packages: [{ name: 'widget', channels: [{ name: 'beta' }] }] }), /package widget has no channel beta; it has: fast, stable/);
        assert.throws(() => filterCatalog(catalog, { packages: [{ name: 'nope' }] }), (err: Error) => err instanceof UnknownPackageError && /it has: gadget, gear-op, widget/.test(err.message));
        assert.throws(() => filterCatalog(catalog, { packages: [{ name: 'widget', minVersion: '2.0.0', maxVersion: '1.0.0' }] }), /minVersion 2\.0\.0 is above maxVersion 1\.0\.0/);
        assert.throws(() => filterCatalog(catalog, { full: true, packages: [{ name: 'widget', maxVersion: '1.0.0' }] }), /full and minVersion\/maxVersion cannot be combined/);
      });

      test('a package-level range leaves out the channels it empties, with a note', () => {
        const result = filterCatalog(loaded.get(format)!, { skipDependencies: true, packages: [{ name: 'widget', minVersion: '1.3.5', defaultChannel: 'fast' }] });
        assert.deepEqual(kept(result), ['widget/fast: widget.v2.0.0:head widget.v1.3.5:range widget.v1.4.0:range']);
        assert.deepEqual(result.notes, ['package widget channel stable: no bundle in minVersion 1.3.5: channel left out']);
      });
    });
  }

  test('the filtered file-based catalog: one folder per package, reproducible, reads back as filtered', async () => {
    const result = filterCatalog(loaded.get('fbc')!, { packages: [{ name: 'widget', channels: [{ name: 'stable', minVersion: '1.1.0' }] }] });
    const [first, second] = [join(dir, 'fbc-out-1'), join(dir, 'fbc-out-2')];
    await writeFileBasedCatalog(result.catalog, first);
    await writeFileBasedCatalog(result.catalog, second);
    assert.deepEqual(readdirSync(first), ['gadget', 'gear-op', 'widget']);
    for (const pkg of readdirSync(first)) assert.equal(readFileSync(join(first, pkg, 'catalog.json'), 'utf8'), readFileSync(join(second, pkg, 'catalog.json'), 'utf8'));
    const back = await readFileBasedCatalog(first);
    assert.deepEqual(shape(back), shape(result.catalog));
    assert.deepEqual(catalogImages(back), catalogImages(result.catalog));
    await assert.rejects(writeFileBasedCatalog(result.catalog, first), /the folder is not empty/);
  });

  test('the pruned SQLite database: same schema, only the kept rows, the seed query works with sqlite3', () => {
    const result = filterCatalog(loaded.get('sqlite')!, { packages: [{ name: 'widget', channels: [{ name: 'stable', minVersion: '1.1.0' }] }] });
    const pruned = join(dir, 'pruned.db');
    writePrunedDatabase(result.catalog, pruned);
    const schema = (path: string) => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare("select type, name, sql from sqlite_master order by rowid").all();
      } finally {
        db.close();
      }
    };
    assert.deepEqual(schema(pruned), schema(catalogs.sqlite));
    const sqlite = (sql: string) => execFileSync('sqlite3', [pruned], { input: sql, encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(sqlite('select name from operatorbundle order by name;'),
      ['gadget.v1.1.0', 'gadget.v2.0.0', 'gear-op.v0.2.0', 'widget.v1.1.0', 'widget.v1.2.0', 'widget.v1.3.0']);
    const seed = execFileSync('sqlite3', ['-line', pruned], { input: "select * from related_image where operatorbundle_name like 'widget.v1%';", encoding: 'utf8' });
    assert.deepEqual([...seed.matchAll(/image = (\S+)/g)].map((m) => m[1]).sort(), [
      'registry.example.com/bundles/widget:1.1.0', 'registry.example.com/bundles/widget:1.2.0', 'registry.example.com/bundles/widget:1.3.0',
      'registry.example.com/widget/operand:1.1.0', 'registry.example.com/widget/operand:1.2.0', 'registry.example.com/widget/operand:1.3.0',
      'registry.example.com/widget/operator:1.1.0', 'registry.example.com/widget/operator:1.2.0', 'registry.example.com/widget/operator:1.3.0',
    ]);
    assert.deepEqual(sqlite("select name || ' ' || default_channel from package order by name;"), ['gadget stable', 'gear-op stable', 'widget stable']);
    const back = readCatalogDatabase(pruned);
    assert.deepEqual(shape(back).map((p) => [p.name, p.channels.map((c) => [c.name, c.head, c.entries.map((e) => e.bundle)])]),
      shape(result.catalog).map((p) => [p.name, p.channels.map((c) => [c.name, c.head, c.entries.map((e) => e.bundle)])]));
    assert.deepEqual(catalogImages(back), catalogImages(result.catalog));
  });
});

describe('blocked images', () => {
  test('each matching image is reported with the bundles that need it', async () => {
    const catalogs = await writeFilterCatalogs(join(dir, 'blocked'));
    const catalog = filterCatalog((await openCatalog(catalogs.sqlite)).catalog, { skipDependencies: true, packages: [{ name: 'widget', channels: [{ name: 'stable', minVersion: '1.2.0' }] }] }).catalog;
    assert.deepEqual(blockedImages(catalog, [{ name: 'widget/operand:1\\.[23]', pattern: /widget\/operand:1\.[23]/ }, { name: 'nothing', pattern: /^nothing$/ }]), [
      { image: 'registry.example.com/widget/operand:1.2.0', blockedBy: 'widget/operand:1\\.[23]', neededBy: ['widget/widget.v1.2.0'] },
      { image: 'registry.example.com/widget/operand:1.3.0', blockedBy: 'widget/operand:1\\.[23]', neededBy: ['widget/widget.v1.3.0'] },
    ]);
  });
});

describe('the filtered catalog in the source format', () => {
  test('a file-based catalog gives a folder, a database a database, and each reads back as filtered', async () => {
    const catalogs = await writeFilterCatalogs(join(dir, 'formats'));
    for (const [source, expected] of [[catalogs.fbc, 'fbc'], [catalogs.sqlite, 'sqlite'], [catalogs.manifests, 'sqlite']] as const) {
      const opened = await openCatalog(source);
      const result = filterCatalog(opened.catalog, { packages: [{ name: 'gadget', minVersion: '1.1.0' }] });
      const target = join(dir, 'formats', `out-${opened.format}${expected === 'sqlite' ? '.db' : ''}`);
      await writeFilteredCatalog(opened.format, result.catalog, target);
      const back = await openCatalog(target);
      assert.equal(back.format, expected);
      // in a database a replaces naming a dropped bundle is no channel_entry edge: the chain ends there
      const want = shape(result.catalog).map((p) => ({ ...p, channels: p.channels.map((c) => ({ ...c, entries: c.entries.map((e) =>
        (expected === 'sqlite' && !c.entries.some((other) => other.bundle === e.replaces) ? { ...e, replaces: undefined } : e)) })) }));
      assert.deepEqual(shape(back.catalog), want);
      assert.deepEqual(allBundles(back.catalog).map((b) => b.name).sort(), ['gadget.v1.1.0', 'gadget.v2.0.0']);
    }
  });
});
