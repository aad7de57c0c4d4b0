// Small JSON record files of ours (archive.json, olm-mirror.json): absent is no error, damaged is one naming the file.
import { readFile } from 'node:fs/promises';
import { OlmMirrorError } from '../errors.js';

/** The parsed content of `path`; undefined when there is no such file. `name` is how messages call it. */
export async function readJsonFile(path: string, name = path): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OlmMirrorError('input', `${name}: not valid JSON (${(err as Error).message})`);
  }
}
