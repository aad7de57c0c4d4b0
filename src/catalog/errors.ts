// The error of a catalog's content, apart from the parsers that raise it (the model names it without loading them).
import { OlmMirrorError } from '../errors.js';

/** A problem in a catalog's content; the message names the file (and line:column when known). */
export class CatalogError extends OlmMirrorError {
  constructor(message: string) {
    super('input', message);
  }
}
