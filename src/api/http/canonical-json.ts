/**
 * JSON with every object's keys sorted and no whitespace: values that are equal as parsed JSON
 * have one canonical form, however their text was spaced or their keys ordered.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = value as Record<string, unknown>;
    return `{${Object.keys(fields)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(fields[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A request body as requests are compared (the Idempotency-Key's fingerprint): JSON in canonical
 * form, anything else (no body, not JSON, nested too deep to walk) its bytes. Canonical JSON is
 * itself JSON, so a body of the one kind never equals one of the other.
 */
export function comparableBody(text: string): string {
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return text;
  }
}
