// User text quoted in messages: cut when long, so a 50 MB line in a mapping file is not echoed whole.

// Longer than any valid image reference (name 255, tag 128, sha512 digest), so those are always shown whole.
const MAX_QUOTED = 600;

/** `"text"`, or `"first 600 characters…" (N characters)` for longer text. */
export function quoted(text: string): string {
  return text.length <= MAX_QUOTED ? `"${text}"` : `"${text.slice(0, MAX_QUOTED)}…" (${text.length} characters)`;
}
