import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LabedgeError } from '../core/errors.js';
import { parseConfig, type LabedgeConfig } from '../config/config.js';

/** Reads and validates a config file; every problem is reported at once, as exit code 2. */
export async function loadConfigFile(file: string, overrides: { dataDir?: string } = {}): Promise<LabedgeConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `cannot read config file ${file}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `config file ${file} is not valid JSON`);
  }
  if (overrides.dataDir && typeof raw === 'object' && raw !== null) {
    raw = { ...raw, dataDir: resolve(overrides.dataDir), keyFile: (raw as { keyFile?: unknown }).keyFile };
  }
  const { config, issues } = parseConfig(raw, dirname(resolve(file)));
  if (!config) {
    throw new LabedgeError('LABEDGE_ERR_CONFIG', `config ${file}: ${issues.map((i) => `${i.field || '(root)'} ${i.message}`).join('; ')}`);
  }
  return config;
}
