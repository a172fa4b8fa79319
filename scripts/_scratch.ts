import { existsSync } from 'node:fs';
import { listFixtures, loadFramesBytes, loadRecordsText, fixturePath } from '../test/harness/astm-fixtures.js';
import { decodeWithProfile, mapLineMessage, observations, localCode, asLiveSession, renumberFrames, wireFromRecords } from '../test/harness/astm-transcript-kit.js';
import { resolveProfile } from '../gateway/profiles/resolve.js';
import { readFileSync } from 'node:fs';
import { unescapeWire } from '../test/harness/astm-fixtures.js';
const PROFILE: Record<string, string> = JSON.parse(process.argv[2] ?? '{}');
const only = process.argv[3];
for (const astm of listFixtures('.astm')) {
  if (only && !astm.includes(only)) continue;
  const base = astm.replace(/\.astm$/, '');
  const profile = resolveProfile(PROFILE[base] ?? 'generic');
  let chunks: Buffer[];
  if (astm.endsWith('-raw.astm')) chunks = [unescapeWire(readFileSync(fixturePath(astm), 'latin1').trim())];
  else if (existsSync(fixturePath(base + '.frames'))) {
    let w = loadFramesBytes(base + '.frames'); if (base.includes('h500')) w = renumberFrames(w);
    chunks = [asLiveSession(w).stream];
  } else chunks = [wireFromRecords(loadRecordsText(astm), profile.framing)];
  const d = decodeWithProfile(chunks, profile);
  console.log(`== ${base} [${profile.name}] messages=${d.messages.length} framing=${d.messages.map(m=>m.framing+(m.complete?'':'(inc)')).join(',')}`);
  for (const m of d.messages) {
    const r = mapLineMessage(m, profile);
    if (r.rejected) { console.log('  rejected', r.rejected); continue; }
    const spec = (r.bundle.entry??[]).filter(e=>e.resource?.resourceType==='Specimen').map(e=>(e.resource as any).identifier[0].value);
    console.log('  specimens', spec.join(','), 'warnings', r.warnings.length, r.warnings.slice(0,4).join(' / '));
    for (const o of observations(r.bundle).slice(0, Number(process.env.N ?? 4))) {
      const q = o.valueQuantity; const loinc = o.code.coding?.find(c=>c.system==='http://loinc.org')?.code;
      console.log(`   ${localCode(o)} loinc=${loinc} ${q ? `${q.comparator??''}${q.value} ${q.unit??''}/${q.code??'-'}` : o.valueString ?? JSON.stringify(o.dataAbsentReason?.coding?.[0]?.code)} interp=${o.interpretation?.map(i=>i.coding?.[0]?.code).join(',')??''} status=${o.status} rr=${o.referenceRange?.[0]?.low?.value ?? ''}-${o.referenceRange?.[0]?.high?.value ?? ''}`);
    }
  }
}
