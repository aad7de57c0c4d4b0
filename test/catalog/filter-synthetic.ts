// A generated catalog for the filter tests, in all three formats: package manifests (as written),
// an SQLite database and a file-based catalog (both written from the loaded model, with bundle images
// and a package dependency the package manifest format cannot express).
//
// widget (default channel stable): stable head v1.3.0, fast head v2.0.0
//   v1.0.0 <- v1.1.0                     (v1.1.0 replaces v1.0.0)
//   v1.0.0 <- v1.2.0, skips v1.1.0
//   v1.2.0 <- v1.3.0 <- v1.4.0 <- v2.0.0 (v2.0.0 also skips v1.3.5)
//   v1.3.0 <- v1.3.5                     (a side branch only v2.0.0 skips)
//   every bundle has skipRange <its version>; v1.3.0 and later require the Gear API (gear-op) and,
//   in the SQLite and file-based variants, package gadget >=1.0.0 <2.0.0
// gear-op: stable v0.1.0 <- v0.2.0, provides Gear; gadget: stable v1.0.0 <- v1.1.0 <- v2.0.0
import { join } from 'node:path';
import { goJson } from '../../src/catalog/documents.js';
import { writeFileBasedCatalog } from '../../src/catalog/fbc/write.js';
import type { Catalog } from '../../src/catalog/model.js';
import { loadPackageManifests } from '../../src/catalog/packagemanifest/index.js';
import { writeCatalogDatabase } from '../../src/catalog/sqlite/index.js';
import { writePackage, type SyntheticBundle } from './synthetic.js';

export interface FilterCatalogs {
  manifests: string;
  sqlite: string;
  fbc: string;
}

export const GADGET_RANGE = '>=1.0.0 <2.0.0';

export async function writeFilterCatalogs(root: string): Promise<FilterCatalogs> {
  const manifests = join(root, 'manifests');
  const widget = (version: string, more: Partial<SyntheticBundle> = {}): SyntheticBundle => ({
    name: `widget.v${version}`, version, owns: ['widgets'], relatedImages: [`registry.example.com/widget/operand:${version}`],
    operatorImage: `registry.example.com/widget/operator:${version}`, ...more,
  });
  await writePackage(manifests, 'widget', { stable: 'widget.v1.3.0', fast: 'widget.v2.0.0' }, [
    widget('1.0.0'),
    widget('1.1.0', { replaces: 'widget.v1.0.0' }),
    widget('1.2.0', { replaces: 'widget.v1.0.0', skips: ['widget.v1.1.0'] }),
    widget('1.3.0', { replaces: 'widget.v1.2.0', requires: ['gears'] }),
    widget('1.3.5', { replaces: 'widget.v1.3.0', requires: ['gears'] }),
    widget('1.4.0', { replaces: 'widget.v1.3.0', requires: ['gears'] }),
    widget('2.0.0', { replaces: 'widget.v1.4.0', skips: ['widget.v1.3.5'], requires: ['gears'] }),
  ], 'stable');
  await writePackage(manifests, 'gear-op', { stable: 'gear-op.v0.2.0' }, [
    { name: 'gear-op.v0.1.0', version: '0.1.0', owns: ['gears'], operatorImage: 'registry.example.com/gear/operator:0.1.0' },
    { name: 'gear-op.v0.2.0', version: '0.2.0', replaces: 'gear-op.v0.1.0', owns: ['gears'], operatorImage: 'registry.example.com/gear/operator:0.2.0' },
  ]);
  await writePackage(manifests, 'gadget', { stable: 'gadget.v2.0.0' }, ['1.0.0', '1.1.0', '2.0.0'].map((version, i, all) => ({
    name: `gadget.v${version}`, version, owns: ['gadgets'], operatorImage: `registry.example.com/gadget/operator:${version}`,
    ...(i > 0 ? { replaces: `gadget.v${all[i - 1]}` } : {}),
  })));
  const loaded = await loadPackageManifests(manifests);
  const enriched: Catalog = {
    packages: loaded.packages.map((pkg) => ({
      ...pkg,
      bundles: pkg.bundles.map((b) => ({
        ...b,
        image: `registry.example.com/bundles/${pkg.name}:${b.version}`,
        dependencies: b.requiredApis.length > 0
          ? [...b.dependencies, { type: 'olm.package', value: goJson({ packageName: 'gadget', version: GADGET_RANGE }) }]
          : b.dependencies,
      })),
    })),
  };
  const sqlite = join(root, 'index.db');
  writeCatalogDatabase(enriched, sqlite);
  const fbc = join(root, 'configs');
  await writeFileBasedCatalog(enriched, fbc);
  return { manifests, sqlite, fbc };
}
