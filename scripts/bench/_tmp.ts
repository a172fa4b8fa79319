import { spawn } from 'node:child_process';
import { MllpClient } from '../../hardware/mllp-client.js';
import { oru } from '../../test/integration/hl7-kit.js';
for (const kind of ['node-hl7-server', 'labedge', 'labedge-tls']) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench/_mllp-server.ts', kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const { port, tls } = await new Promise<{ port: number; tls?: any }>((res) => child.stdout!.on('data', (c) => { out += c; const m = /PORT (\d+)/.exec(out); const p = /^PKI (.*)$/m.exec(out); if (m) res({ port: Number(m[1]), tls: p ? JSON.parse(p[1]!) : undefined }); }));
  const c = await MllpClient.connect({ host: '127.0.0.1', port, ...(tls ? { tls } : {}) });
  const times: number[] = [];
  for (let i = 0; i < 40; i++) { const t = performance.now(); await c.send(oru(`T${i}`, { obx: 28 })); times.push(performance.now() - t); }
  times.sort((a, b) => a - b);
  console.log(kind, 'median ms', times[20]?.toFixed(2), 'p90', times[36]?.toFixed(2));
  await c.close(); child.stdin!.end();
  await new Promise((r) => child.once('exit', r));
}
