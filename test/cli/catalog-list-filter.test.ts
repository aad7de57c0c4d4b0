// `olm-mirror catalog list SRC` with selection flags or -c: a preview of what a filter keeps, run as a user runs it.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DependencyReport, KeptPackageReport } from '../../src/catalog/filter/index.js';
import { writeFilterCatalogs, type FilterCatalogs } from '../catalog/filter-synthetic.js';
import { removeNow } from '../support/cleanup.js';
import { runCli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'olm-mirror-cli-filter-'));
after(() => removeNow(dir));

type PreviewJson = { packages: KeptPackageReport[]; dependencies: DependencyReport[]; warnings: string[]; notes: string[]; images: string[] };

describe('catalog list with a selection', () => {
  let catalogs: FilterCatalogs;
  before(async () => {
    catalogs = await writeFilterCatalogs(join(dir, 'generated'));
  });
  const selection = ['--channel', 'widget:stable', '--min-version', 'widget:stable=1.1.0'];

  test('--output json: kept packages, channels and bundles with reasons, dependencies, images', async () => {
    const run = await runCli(['catalog', 'list', catalogs.fbc, ...selection, '--output', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const preview = JSON.parse(run.stdout) as PreviewJson;
    assert.deepEqual(preview.packages.map((p) => [p.name, p.origin, p.channels.map((c) => `${c.name}:${c.bundles.map((b) => b.bundle).join(',')}`)]), [
      ['gadget', 'dependency', ['stable:gadget.v2.0.0,gadget.v1.1.0']],
      ['gear-op', 'dependency', ['stable:gear-op.v0.2.0']],
      ['widget', 'selected', ['stable:widget.v1.3.0,widget.v1.2.0,widget.v1.1.0']],
    ]);
    assert.deepEqual(preview.dependencies.map((d) => `${d.requiredBy.bundle} ${d.requirement} -> ${d.satisfiedBy.bundle}`).sort(), [
      'widget.v1.3.0 API example.com/v1 Gear -> gear-op.v0.2.0',
      'widget.v1.3.0 package gadget >=1.0.0 <2.0.0 -> gadget.v1.1.0',
    ]);
    assert.ok(preview.images.includes('registry.example.com/widget/operand:1.1.0'));
    assert.ok(!preview.images.includes('registry.example.com/widget/operand:1.0.0'), 'images of bundles left out are not listed');
    assert.equal(preview.images.length, 3 * 3 + 2 * 2 + 2, 'widget: bundle, operator, operand; gadget and gear-op: bundle, operator');
  });

  test('a table with why each bundle is kept, the dependencies and the totals; --images lists only kept images', async () => {
    const run = await runCli(['catalog', 'list', catalogs.sqlite, ...selection]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^PACKAGE\s+DEFAULT CHANNEL\s+CHANNEL\s+BUNDLE\s+VERSION\s+KEPT$/);
    assert.ok(lines.some((l) => /^widget\s+stable\s+stable\s+widget\.v1\.3\.0\s+1\.3\.0\s+head$/.test(l)), run.stdout);
    assert.ok(lines.some((l) => /^gadget\s+stable\s+stable\s+gadget\.v2\.0\.0\s+2\.0\.0\s+upgrade-path$/.test(l)), run.stdout);
    assert.ok(lines.includes('  gear-op.v0.2.0 (package gear-op, channel stable, package added) for widget.v1.3.0: API example.com/v1 Gear'), run.stdout);
    assert.equal(lines.at(-1), 'kept: 3 packages, 3 channels, 6 bundles, 15 images');

    const images = await runCli(['catalog', 'list', catalogs.sqlite, ...selection, '--images', '--output', 'json']);
    assert.equal(images.code, 0, images.stderr);
    const bundles = new Set((JSON.parse(images.stdout) as { images: { bundle: string }[] }).images.map((i) => i.bundle));
    assert.deepEqual([...bundles].sort(), ['gadget.v1.1.0', 'gadget.v2.0.0', 'gear-op.v0.2.0', 'widget.v1.1.0', 'widget.v1.2.0', 'widget.v1.3.0']);
  });

  test('-c takes the selection from an ImageSetConfiguration; stranded bundles are warnings on stderr', async () => {
    const isc = join(dir, 'imageset.yaml');
    writeFileSync(isc, `apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  operators:
  - catalog: ${catalogs.manifests}
    skipDependencies: true
    packages:
    - name: widget
      defaultChannel: fast
      channels:
      - name: fast
        maxVersion: 1.9.0
`);
    const run = await runCli(['catalog', 'list', catalogs.manifests, '-c', isc, '--output', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const preview = JSON.parse(run.stdout) as PreviewJson;
    assert.deepEqual(preview.packages.map((p) => [p.name, p.defaultChannel, p.channels.map((c) => c.head)]), [['widget', 'fast', ['widget.v1.4.0']]]);
    assert.match(run.stderr, /^warning: package widget channel fast: widget\.v1\.3\.5 \(1\.3\.5\) cannot upgrade to the channel head widget\.v1\.4\.0/m);
  });

  test('an ImageSetConfiguration with an unsupported field exits 2 naming it, file and line', async () => {
    const isc = join(dir, 'unsupported.yaml');
    writeFileSync(isc, 'apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  platform:\n    channels:\n    - name: stable-4.14\n');
    const run = await runCli(['catalog', 'list', catalogs.fbc, '-c', isc]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, new RegExp(`^error: ${isc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: mirror\\.platform: not supported`));
  });

  test('bad selections exit 2 and say what exists', async () => {
    const empty = await runCli(['catalog', 'list', catalogs.fbc, '--package', 'widget', '--min-version', 'widget=9.0.0']);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /error: package widget: no bundle in minVersion 9\.0\.0; its versions are 1\.0\.0, 1\.1\.0, 1\.2\.0, 1\.3\.0, 1\.3\.5, 1\.4\.0, 2\.0\.0/);
    const defaultChannel = await runCli(['catalog', 'list', catalogs.fbc, '--channel', 'widget:fast']);
    assert.equal(defaultChannel.code, 2);
    assert.match(defaultChannel.stderr, /its default channel stable is not kept/);
    const both = await runCli(['catalog', 'list', catalogs.fbc, '-c', join(dir, 'imageset.yaml'), '--package', 'widget']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /-c\/--config cannot be combined with --package/);
    const syntax = await runCli(['catalog', 'list', catalogs.fbc, '--min-version', '1.0.0']);
    assert.equal(syntax.code, 2);
    assert.match(syntax.stderr, /--min-version <pkg\[:channel\]=version>' argument '1\.0\.0' is invalid\. expected PKG=VERSION or PKG:CHANNEL=VERSION/);
  });
});
