// File-based catalogs: upstream's declcfg test data, .indexignore, JSON streams and errors.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadFileBasedCatalog, readFileBasedCatalog } from '../../src/catalog/fbc/index.js';
import { IgnoreMatcher } from '../../src/catalog/fbc/ignore.js';
import { allBundles, catalogImages } from '../../src/catalog/model.js';
import { fixturesDir, fixturesMissing } from '../support/paths.js';

const fbc = join(fixturesDir, 'fbc');

describe('upstream declarative configs', { skip: fixturesMissing() }, () => {
  test('foo-index-v0.2.0-declcfg: package, channels, graph, bundles and images', async () => {
    const catalog = await readFileBasedCatalog(join(fbc, 'foo-index-v0.2.0-declcfg'));
    const [foo] = catalog.packages;
    assert.equal(foo!.name, 'foo');
    assert.equal(foo!.defaultChannel, 'beta');
    assert.deepEqual(foo!.channels.map((c) => [c.name, c.head, c.entries.map((e) => `${e.bundle}@${e.depth}`)]), [
      ['beta', 'foo.v0.2.0', ['foo.v0.2.0@0', 'foo.v0.1.0@1']],
      ['stable', 'foo.v0.2.0', ['foo.v0.2.0@0']],
    ]);
    assert.deepEqual(foo!.channels[0]!.entries[0], { bundle: 'foo.v0.2.0', depth: 0, skips: ['foo.v0.1.1', 'foo.v0.1.2'], replaces: 'foo.v0.1.0', skipRange: '<0.2.0' });
    const v2 = foo!.bundles.find((b) => b.name === 'foo.v0.2.0')!;
    assert.equal(v2.version, '0.2.0');
    assert.equal(v2.image, 'test.registry/foo-operator/foo-bundle:v0.2.0');
    assert.deepEqual(v2.relatedImages.find((r) => r.name === 'other'), { name: 'other', image: 'test.registry/foo-operator/foo-other:v0.2.0' });
    assert.deepEqual(v2.providedApis, [{ group: 'test.foo', version: 'v1', kind: 'Foo', plural: '' }]);
    assert.deepEqual(v2.dependencies.map((d) => `${d.type} ${d.value}`), [
      'olm.gvk {"group":"test.bar","kind":"Bar","version":"v1alpha1"}',
      'olm.package {"packageName":"bar","version":"\\u003c0.1.0"}',
    ]);
    // olm.bundle.object manifests are decoded: the CSV and the CRD
    assert.equal(JSON.parse(v2.csvJson!).metadata.name, 'foo.v0.2.0');
    assert.deepEqual(v2.objects!.map((o) => JSON.parse(o).kind), ['ClusterServiceVersion', 'CustomResourceDefinition']);
    assert.deepEqual(catalogImages(catalog), [
      'test.registry/foo-operator/foo-2:v0.2.0',
      'test.registry/foo-operator/foo-bundle:v0.1.0',
      'test.registry/foo-operator/foo-bundle:v0.2.0',
      'test.registry/foo-operator/foo-init-2:v0.2.0',
      'test.registry/foo-operator/foo-init:v0.2.0',
      'test.registry/foo-operator/foo-other:v0.2.0',
      'test.registry/foo-operator/foo:v0.1.0',
      'test.registry/foo-operator/foo:v0.2.0',
    ]);
  });

  test('index-declcfgs/latest: three packages and their heads', async () => {
    const catalog = await readFileBasedCatalog(join(fbc, 'index-declcfgs', 'latest'));
    assert.deepEqual(catalog.packages.map((p) => [p.name, p.defaultChannel, p.channels.map((c) => `${c.name}:${c.head}`), p.bundles.length]), [
      ['bar', 'stable', ['alpha:bar.v1.0.0', 'stable:bar.v1.0.0'], 3],
      ['baz', 'stable', ['stable:baz.v1.1.0'], 3],
      ['foo', 'beta', ['beta:foo.v0.3.1'], 4],
    ]);
    assert.deepEqual(allBundles(catalog).map((b) => b.version), ['0.1.0', '0.2.0', '1.0.0', '1.0.0', '1.0.1', '1.1.0', '0.1.0', '0.2.0', '0.3.0', '0.3.1']);
  });

  test('a repeated key keeps its last value, as upstream decodes YAML (exp-headsonly)', async () => {
    const catalog = await readFileBasedCatalog(join(fbc, 'index-declcfgs', 'exp-headsonly'));
    assert.ok(catalog.packages.length > 0);
  });

  test('without manifests, bundle objects are neither decoded nor kept', async () => {
    const catalog = await readFileBasedCatalog(join(fbc, 'foo-index-v0.2.0-declcfg'), { manifests: false });
    for (const bundle of allBundles(catalog)) {
      assert.equal(bundle.objects, undefined);
      assert.ok(!bundle.properties.some((p) => p.type === 'olm.bundle.object'));
    }
  });
});

const pkg = (name: string, extra = ''): string => `---\nschema: olm.package\nname: ${name}\n${extra}`;
const channel = (p: string, name: string, entries: string[]): string =>
  `---\nschema: olm.channel\npackage: ${p}\nname: ${name}\nentries:\n${entries.map((e) => `  - name: ${e}\n`).join('')}`;
const bundle = (p: string, name: string, image: string): string =>
  `---\nschema: olm.bundle\npackage: ${p}\nname: ${name}\nimage: ${image}\nproperties:\n  - type: olm.package\n    value: {packageName: ${p}, version: 1.0.0}\n`;

describe('file-based catalog rules', () => {
  let root: string;
  let n = 0;
  const fresh = async (files: Record<string, string>): Promise<string> => {
    const dir = join(root, `case-${n++}`);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return dir;
  };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'olm-mirror-fbc-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('.indexignore patterns are relative to their folder; `!` re-includes', async () => {
    const dir = await fresh({
      'a/catalog.yaml': pkg('a') + channel('a', 'stable', ['a.v1']) + bundle('a', 'a.v1', 'r.io/a:1'),
      'a/README.md': 'a: [',
      'a/notes/todo.yaml': 'a: [',
      'a/.indexignore': '# docs\n*.md\nnotes/\n',
      'b/catalog.json': '{"schema":"olm.package","name":"b"}',
      'b/extra.json': '{"schema": "olm.channel", "package": "b", "name": "stable", "entries": [{"name": "b.v1"}]}{"schema":"olm.bundle","package":"b","name":"b.v1","image":"r.io/b:1"}',
      'b/skipped.json': '{',
      'b/kept.json': '{\n  "schema": "olm.unknown",\n  "anything": true\n}\n{\n  "schema": "olm.deprecations",\n  "package": "b",\n  "entries": [{"reference": {"schema": "olm.bundle", "name": "b.v1"}, "message": "old"}]\n}\n',
      'b/.indexignore': '*.json\n!catalog.json\n!extra.json\n!kept.json\n',
      'README.md': 'a: [',
      '.indexignore': 'README.md\n',
    });
    const catalog = await readFileBasedCatalog(dir);
    assert.deepEqual(catalog.packages.map((p) => [p.name, p.bundles.map((b) => b.image)]), [['a', ['r.io/a:1']], ['b', ['r.io/b:1']]]);
    assert.equal(catalog.packages[1]!.bundles[0]!.deprecated, true);
  });

  /** Matches the error message itself (a RegExp given to assert.rejects sees `Name: message`). */
  const rejectsWith = (promise: Promise<unknown>, pattern: RegExp): Promise<void> =>
    assert.rejects(promise, (err: Error) => {
      assert.match(err.message, pattern);
      return true;
    });

  test('permissive: packages with a problem and files that do not parse are left out and named, the rest is read', async () => {
    const files = {
      'a.yaml': pkg('a') + channel('a', 'stable', ['a.v1']) + bundle('a', 'a.v1', 'r.io/a:1'),
      'b.yaml': pkg('b') + channel('b', 'stable', ['b.v1']) + bundle('b', 'b.v1', 'r.io/b:1') + bundle('b', 'b.v2', 'r.io/b:2'),
      'c.yaml': pkg('c') + '  bad: indent\n',
      'd.yaml': channel('c', 'stable', ['c.v1']),
    };
    const dir = await fresh(files);
    await rejectsWith(readFileBasedCatalog(dir), new RegExp(`^${join(dir, 'c.yaml')}:4:6: bad indentation of a mapping entry$`));
    const load = await loadFileBasedCatalog(dir, { permissive: true });
    assert.deepEqual(load.catalog.packages.map((p) => p.name), ['a']);
    assert.deepEqual(load.errors, [
      `${join(dir, 'c.yaml')}:4:6: bad indentation of a mapping entry`,
      `${join(dir, 'd.yaml')}:2: channel stable belongs to package c, which has no olm.package`,
      `${join(dir, 'b.yaml')}:19: package b bundle b.v2 is not in any channel`,
    ]);
    assert.deepEqual(load.skippedPackages, ['c', 'b', join(dir, 'c.yaml')]);
  });

  test('errors name the file and the line of the document', async () => {
    const file = (dir: string): string => join(dir, 'index.yaml');
    let dir = await fresh({ 'index.yaml': pkg('a') + channel('ghost', 'stable', ['x']) });
    await rejectsWith(readFileBasedCatalog(dir), new RegExp(`^${file(dir)}:5: channel stable belongs to package ghost, which has no olm.package$`));
    dir = await fresh({ 'index.yaml': pkg('a') + '---\nname: nameless\n' });
    await rejectsWith(readFileBasedCatalog(dir), new RegExp(`^${file(dir)}:5: object is missing root schema field$`));
    dir = await fresh({ 'index.yaml': pkg('a') + channel('a', 'stable', ['a.v1']) });
    await rejectsWith(readFileBasedCatalog(dir), /channel stable lists a\.v1, which has no olm\.bundle/);
    dir = await fresh({ 'index.yaml': pkg('a') + '---\nschema: olm.bundle\n  bad: indent\n' });
    await rejectsWith(readFileBasedCatalog(dir), new RegExp(`^${file(dir)}:6:6: bad indentation of a mapping entry$`));
    dir = await fresh({ 'index.json': '{"schema":"olm.package","name":"a"}\n{"schema":"olm.channel",}' });
    await rejectsWith(readFileBasedCatalog(dir), new RegExp(`^${join(dir, 'index.json')}:2:\\d+: invalid JSON`));
  });

  describe('olm.bundle.object refs stay inside the catalog folder', () => {
    const SECRET = 'SECRET-TOKEN-abc123';
    const csv = '{"apiVersion":"operators.coreos.com/v1alpha1","kind":"ClusterServiceVersion","metadata":{"name":"a.v1"}}';
    const withRef = (ref: string): string =>
      pkg('a') + channel('a', 'stable', ['a.v1']) + bundle('a', 'a.v1', 'r.io/a:1') + `  - type: olm.bundle.object\n    value: {ref: ${JSON.stringify(ref)}}\n`;
    /** A catalog folder `catalog/` whose index.yaml refs `ref`, beside a host file it must not read; refs live in ignored folders. */
    const catalogWith = async (ref: string, files: Record<string, string> = {}): Promise<{ dir: string; index: string; secret: string }> => {
      const base = await fresh({ 'secret.json': `{"auths":{"r.io":{"auth":"${SECRET}"}}}`, 'catalog/index.yaml': withRef(ref), 'catalog/.indexignore': 'objects/\nlinked\n', ...Object.fromEntries(Object.entries(files).map(([k, v]) => [`catalog/${k}`, v])) });
      return { dir: join(base, 'catalog'), index: join(base, 'catalog', 'index.yaml'), secret: join(base, 'secret.json') };
    };
    const rejectsNamingRef = async (dir: string, index: string, ref: string, reason: RegExp): Promise<void> => {
      await assert.rejects(readFileBasedCatalog(dir), (err: Error) => {
        assert.ok(err.message.startsWith(`${index}:`), err.message);
        assert.ok(err.message.includes(`olm.bundle.object ref ${ref}`), err.message);
        assert.match(err.message, reason);
        assert.ok(!err.message.includes(SECRET), err.message);
        return true;
      });
    };

    test('a ref inside the folder is read, `..` that stays inside included', async () => {
      const { dir } = await catalogWith('objects/../objects/csv.json', { 'objects/csv.json': csv });
      const [a] = allBundles(await readFileBasedCatalog(dir));
      assert.equal(a!.csvJson, csv);
    });

    test('`..` escapes and absolute paths are refused without reading the target', async () => {
      let c = await catalogWith('../secret.json');
      await rejectsNamingRef(c.dir, c.index, '../secret.json', /points outside the catalog folder/);
      c = await catalogWith('objects/../../secret.json');
      await rejectsNamingRef(c.dir, c.index, 'objects/../../secret.json', /points outside the catalog folder/);
      const absolute = join(c.dir, '..', 'secret.json');
      c = await catalogWith(absolute);
      await rejectsNamingRef(c.dir, c.index, absolute, /points outside the catalog folder/);
    });

    test('a symlink (file or folder) leading outside is refused', async () => {
      let c = await catalogWith('objects/csv.json', { 'objects/.keep': '' });
      await symlink(c.secret, join(c.dir, 'objects', 'csv.json'));
      await rejectsNamingRef(c.dir, c.index, 'objects/csv.json', /symbolic link leading outside the catalog folder/);
      c = await catalogWith('linked/secret.json');
      await symlink(join(c.dir, '..'), join(c.dir, 'linked'));
      await rejectsNamingRef(c.dir, c.index, 'linked/secret.json', /symbolic link leading outside the catalog folder/);
    });

    test('a catalog file that is a symlink leading outside is refused', async () => {
      const c = await catalogWith('objects/csv.json', { 'objects/csv.json': csv });
      await symlink(c.secret, join(c.dir, 'zz.json'));
      await assert.rejects(readFileBasedCatalog(c.dir), (err: Error) => {
        assert.equal(err.message, `${join(c.dir, 'zz.json')} is a symbolic link leading outside the catalog folder ${c.dir}`);
        return true;
      });
    });

    test('without manifests, refs are not followed at all', async () => {
      const c = await catalogWith('../secret.json');
      const [a] = allBundles(await readFileBasedCatalog(c.dir, { manifests: false }));
      assert.deepEqual(a!.properties.map((p) => p.type), ['olm.package']);
    });
  });

  test('two channel heads are an error naming both', async () => {
    const dir = await fresh({ 'index.yaml': pkg('a') + channel('a', 'stable', ['a.v1', 'a.v2']) + bundle('a', 'a.v1', 'r/a:1') + bundle('a', 'a.v2', 'r/a:2') });
    await assert.rejects(readFileBasedCatalog(dir), /multiple channel heads found in graph: a\.v1, a\.v2/);
  });
});

describe('IgnoreMatcher', () => {
  test('gitignore semantics', () => {
    const m = new IgnoreMatcher();
    m.add('', 'build/\n/top.yaml\n**/gen/*.json\n');
    m.add('sub', '*.tmp\n!keep.tmp\n');
    assert.equal(m.matches('build/x.yaml', false), true);
    assert.equal(m.matches('deep/build/x.yaml', false), true);
    assert.equal(m.matches('build', false), false); // a file named build is not a folder
    assert.equal(m.matches('top.yaml', false), true);
    assert.equal(m.matches('sub/top.yaml', false), false);
    assert.equal(m.matches('a/b/gen/x.json', false), true);
    assert.equal(m.matches('sub/x.tmp', false), true);
    assert.equal(m.matches('sub/keep.tmp', false), false);
    assert.equal(m.matches('x.tmp', false), false);
  });
});
