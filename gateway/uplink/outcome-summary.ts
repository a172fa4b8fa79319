/**
 * A PHI-free, one-line summary of a server's OperationOutcome, for dead-letter reasons, events
 * and logs: severity, issue code and FHIRPath position only. `details.text` and `diagnostics`
 * are dropped because servers echo submitted values there (a rejected result value, a name).
 */

// A resource type, then element names (lowercase first letter, as FHIR elements are): values
// a server might misplace here (names, ids) rarely fit, and are dropped when they do not.
const PATH = /^[A-Z][A-Za-z]{1,63}(\[\d{1,4}\])?(\.[a-z][A-Za-z0-9_]{0,63}(\[\d{1,4}\])?)+$/;
const CODE = /^[a-z][a-z-]{0,31}$/;
const MAX_ISSUES = 5;

/** e.g. `error invalid @Observation.status; error processing` (empty when there is no usable outcome). */
export function summarizeOutcome(outcome: unknown): string {
  if (typeof outcome !== 'object' || outcome === null) return '';
  const { resourceType, issue } = outcome as { resourceType?: unknown; issue?: unknown };
  if (resourceType !== 'OperationOutcome' || !Array.isArray(issue)) return '';
  const parts: string[] = [];
  for (const i of issue.slice(0, MAX_ISSUES) as { severity?: unknown; code?: unknown; expression?: unknown; location?: unknown }[]) {
    const severity = typeof i?.severity === 'string' && CODE.test(i.severity) ? i.severity : '?';
    const code = typeof i?.code === 'string' && CODE.test(i.code) ? i.code : '?';
    const where = [i?.expression, i?.location].flatMap((v) => (Array.isArray(v) ? v : [])).find((p): p is string => typeof p === 'string' && p.length <= 96 && PATH.test(p));
    parts.push(`${severity} ${code}${where ? ` @${where}` : ''}`);
  }
  if (issue.length > MAX_ISSUES) parts.push(`+${issue.length - MAX_ISSUES} more`);
  return parts.join('; ');
}
