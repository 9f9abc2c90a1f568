/** `trt-vla info [--json]`: what this machine and binary can run, and why not. */

import { info, type RuntimeInfo } from '../info.js';
import { parseFlags } from './args.js';

function formatBytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function formatInfo(i: RuntimeInfo): string {
  const lines: string[] = [];
  const b = i.build;
  lines.push(`trt-vla ${b.version} (${b.buildSystem} build, ${b.compiler}, git ${b.gitRevision}${b.sanitize ? ', sanitizers' : ''})`);
  lines.push('');
  lines.push('backends');
  for (const name of ['cpu', 'cuda', 'tensorrt'] as const) {
    const s = i.backends[name];
    const state = s.available ? 'available' : s.compiled ? 'compiled, unavailable' : 'not compiled';
    let detail = s.reason ?? '';
    if (name === 'cpu') detail = `${i.cpu.simd} kernels, ${i.cpu.threads} threads`;
    if (name === 'cuda' && s.compiled) {
      const versions = [b.cudaVersion && `built with CUDA ${b.cudaVersion}`, b.cudaArchitectures && `sm ${b.cudaArchitectures}`]
        .filter(Boolean)
        .join(', ');
      detail = [s.reason, versions].filter(Boolean).join('; ');
    }
    if (name === 'tensorrt' && s.compiled && b.tensorrtVersion) {
      detail = [s.reason, `built with TensorRT ${b.tensorrtVersion}`].filter(Boolean).join('; ');
    }
    lines.push(`  ${name.padEnd(9)} ${state.padEnd(22)} ${detail}`.trimEnd());
  }
  lines.push('');
  if (i.device) {
    const d = i.device;
    lines.push(`device     ${d.name} (sm_${d.sm}, ${d.multiprocessors} SMs, ${formatBytes(d.totalMemoryBytes)}${d.integrated ? ', integrated GPU' : ''})`);
  } else {
    lines.push('device     none');
  }
  if (i.cuda) lines.push(`cuda       driver ${i.cuda.driverVersion ?? 'none'}, runtime ${i.cuda.runtimeVersion}`);
  if (i.tensorrt) lines.push(`tensorrt   ${i.tensorrt.runtimeVersion} (built against ${i.tensorrt.buildVersion})`);
  const f = i.cpu.features;
  const feats = Object.entries(f).filter(([, on]) => on).map(([k]) => k).join(', ') || 'none';
  lines.push(`cpu        ${i.cpu.threads} threads, features: ${feats}`);
  lines.push(`addon      ${b.addonPath}`);
  return lines.join('\n');
}

export const infoCommand = {
  summary: 'backends, device, versions, and why a backend is unavailable',
  usage: 'Usage: trt-vla info [--json]',
  async run(argv: string[]): Promise<number> {
    const values = parseFlags(argv, { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      console.log('Usage: trt-vla info [--json]\n\nReports, for each backend (cpu, cuda, tensorrt), whether it is compiled in and\navailable here, and why not; the device; CUDA / TensorRT versions; CPU SIMD level and threads.');
      return 0;
    }
    const result = await info();
    console.log(values.json ? JSON.stringify(result, null, 2) : formatInfo(result));
    return 0;
  },
};
