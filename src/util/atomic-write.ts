// Small files of ours (reports, records, manifests): readers see the old file or the new one, never half of one.
import { rename, unlink, writeFile } from 'node:fs/promises';

/** Writes `data` beside `path` under a name of this process, then renames it over `path`. */
export async function writeFileAtomically(path: string, data: string | Uint8Array, opts: { mode?: number } = {}): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temp, data, opts.mode === undefined ? {} : { mode: opts.mode });
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
