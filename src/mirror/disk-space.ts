// A mirror to disk must not fill the disk half-way: the plan knows the bytes to write before anything is.
import { statfs } from 'node:fs/promises';
import { OlmMirrorError } from '../errors.js';
import { formatBytes } from './format.js';

/** Room on the filesystem of `dir`, for the unprivileged user (what a write can really use). */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Fails, before anything is written, when `dir`'s filesystem has less than `needed` bytes free. */
export async function ensureDiskSpace(dir: string, needed: number): Promise<void> {
  const free = await freeBytes(dir);
  if (needed > free) {
    throw new OlmMirrorError('transport', `not enough room in ${dir}: the mirror needs ${formatBytes(needed)}, `
      + `the filesystem has ${formatBytes(free)} free; nothing was written`);
  }
}
