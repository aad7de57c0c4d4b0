// Where chunked uploads note how far the registry has acknowledged them, so that an upload cut short
// by the end of the process (a kill) is resumed by the next run instead of sent again from byte 0.
// One small file per registry, repository and digest; private to the user (0700 folder, 0600 files).
import { writeFileAtomically } from '../util/atomic-write.js';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface UploadRecord {
  /** The upload's URL as the registry last gave it (registries keep their state in its query). */
  location: string;
  /** Bytes the registry acknowledged. */
  offset: number;
}

export interface UploadKey { registry: string; repository: string; digest: string }

/**
 * Best effort throughout: a journal that cannot be read or written only means an upload cut short is
 * sent again from the start, which is what happens without one, so its errors never fail an upload.
 */
export class UploadJournal {
  /** The folder was made (or found) by this journal: every PATCH of a big upload writes a record. */
  private dirReady = false;

  constructor(readonly dir: string) {}

  private file(key: UploadKey): string {
    const name = createHash('sha256').update(`${key.registry}/${key.repository}@${key.digest}`).digest('hex');
    return join(this.dir, `${name}.json`);
  }

  async read(key: UploadKey): Promise<UploadRecord | undefined> {
    try {
      const record = JSON.parse(await readFile(this.file(key), 'utf8')) as Partial<UploadRecord>;
      if (typeof record.location !== 'string' || !Number.isSafeInteger(record.offset)) return undefined;
      return { location: record.location, offset: record.offset! };
    } catch {
      return undefined;
    }
  }

  async write(key: UploadKey, record: UploadRecord): Promise<void> {
    const file = this.file(key);
    try {
      if (!this.dirReady) await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.dirReady = true;
      await writeFileAtomically(file, JSON.stringify(record), { mode: 0o600 });
    } catch {
      // See the class comment. The folder may have been removed meanwhile: made again next time.
      this.dirReady = false;
    }
  }

  async remove(key: UploadKey): Promise<void> {
    await rm(this.file(key), { force: true }).catch(() => undefined);
  }
}
