/** `trt-vla info [--json] [--model DIR]`: what this machine and binary can run, and why not; what a model folder holds. */
import { info, type AddonCandidate, type AddonRuntimeInfo, type NoAddonRuntimeInfo, type RuntimeInfo } from '../info.js';
import { resolveModelFiles } from '../model/bundle.js';
import { engineRelease, engineReleaseProblem, type EngineRelease } from '../model/engineRelease.js';
import { defaultSampling, type SamplingOptions, samplingSource } from '../model/modelConfig.js';
import { parseFlags } from './args.js';

/** What a model folder's files say, read without loading any weights or engines. */
export interface ModelFolderInfo {
  dir: string;
  layout: 'bundle' | 'huggingface';
  engines: { llm?: string; visual?: string };
  /** The Edge-LLM release and builds recorded in the configs. */
  release: EngineRelease;
  /** Why each backend would refuse the folder because of its release; absent when it would not. */
  releaseProblems: { cpu?: string; tensorrt?: string };
  sampling: Required<SamplingOptions> & { source: string };
}

export function modelFolderInfo(dir: string): ModelFolderInfo {
  const files = resolveModelFiles(dir);
  const engines: ModelFolderInfo['engines'] = {};
  if (files.llm.engineFile) engines.llm = files.llm.engineFile;
  if (files.visual.engineFile) engines.visual = files.visual.engineFile;
  const releaseProblems: ModelFolderInfo['releaseProblems'] = {};
  for (const backend of ['cpu', 'tensorrt'] as const) {
    const problem = engineReleaseProblem(files, backend);
    if (problem !== undefined) releaseProblems[backend] = problem;
  }
  return {
    dir: files.dir,
    layout: files.layout,
    engines,
    release: engineRelease(files),
    releaseProblems,
    sampling: { ...defaultSampling(files), source: samplingSource(files) },
  };
}

export function formatModelFolderInfo(m: ModelFolderInfo): string {
  const lines = [`model      ${m.dir} (${m.layout === 'bundle' ? 'bundle layout' : 'Hugging Face checkpoint'})`];
  const engines = Object.entries(m.engines).map(([k, f]) => `${k}: ${f}`);
  lines.push(`engines    ${engines.length ? engines.join(', ') : 'none (CPU weights only)'}`);
  const r = m.release;
  lines.push(`edge-llm   ${r.edgellmVersion ?? 'no edgellm_version recorded'}${r.llm && r.visual && r.llm !== r.visual ? ` (llm ${r.llm}, visual ${r.visual})` : ''}`);
  if (r.llmBuilderConfig) lines.push(`llm_build  ${JSON.stringify(r.llmBuilderConfig)}`);
  if (r.visualBuilderConfig) lines.push(`visual_build ${JSON.stringify(r.visualBuilderConfig)}`);
  for (const [backend, problem] of Object.entries(m.releaseProblems)) lines.push(`refused    on ${backend}: ${problem}`);
  const s = m.sampling;
  lines.push(
    `sampling   temperature ${s.temperature}, top_k ${s.topK}, top_p ${s.topP}, repetition_penalty ${s.repetitionPenalty} (from ${s.source})`,
  );
  return lines.join('\n');
}

function formatBytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function formatCandidates(candidates: readonly AddonCandidate[]): string[] {
  return candidates.map((c) => {
    const outcome = c.outcome === 'load-error' ? 'load error' : c.outcome === 'not-found' ? 'not found' : c.outcome === 'not-tried' ? 'not tried' : 'loaded';
    return `  ${c.source.padEnd(22)} ${c.location}\n  ${''.padEnd(22)} ${outcome}${c.detail ? `: ${c.detail}` : ''}`;
  });
}

function formatPlatform(i: RuntimeInfo): string {
  const p = i.platform;
  return `${p.platform}-${p.arch}, Node.js ${p.node}, Node-API ${p.napi}${p.glibc ? `, glibc ${p.glibc}` : ''}`;
}

/** The report without the addon: why it did not load, each place searched, the fixes; every backend unavailable. */
export function formatNoAddonInfo(i: NoAddonRuntimeInfo): string {
  const lines = [`${i.package.name} ${i.package.version}: the native addon is NOT loaded (${formatPlatform(i)})`, ''];
  lines.push(`cause      ${i.addon.cause}`, '', 'searched');
  lines.push(...formatCandidates(i.addon.candidates), '', 'to fix');
  lines.push(...i.addon.advice.map((a) => `  - ${a}`), '', 'backends');
  for (const name of ['cpu', 'cuda', 'tensorrt'] as const) lines.push(`  ${name.padEnd(9)} unavailable (no addon)`);
  return lines.join('\n');
}

export function formatInfo(i: RuntimeInfo): string {
  return i.addonLoaded ? formatAddonInfo(i) : formatNoAddonInfo(i);
}

function formatAddonInfo(i: AddonRuntimeInfo): string {
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
  lines.push(`platform   ${formatPlatform(i)}`);
  return lines.join('\n');
}

export const infoCommand = {
  summary: 'backends, device, versions, and why a backend is unavailable (or why the addon did not load)',
  usage: 'Usage: trt-vla info [--json] [--model DIR]',
  async run(argv: string[]): Promise<number> {
    const values = parseFlags(argv, { json: { type: 'boolean', default: false }, model: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      console.log(
        'Usage: trt-vla info [--json] [--model DIR]\n\nReports, for each backend (cpu, cuda, tensorrt), whether it is compiled in and\navailable here, and why not; the device; CUDA / TensorRT versions; CPU SIMD level and threads.\n' +
          'Without a loadable native addon it reports why not: each place searched for the binary and why\nit failed, and how to fix it (exit code 1).\n' +
          'With --model: what the model folder holds (engines, the TensorRT Edge-LLM release and build flags\nrecorded in its configs, whether that release is supported, default sampling and its source),\nread from its files without loading it.',
      );
      return 0;
    }
    const result = await info();
    const model = values.model === undefined ? undefined : modelFolderInfo(values.model);
    if (values.json) console.log(JSON.stringify(model ? { ...result, model } : result, null, 2));
    else console.log(model ? `${formatInfo(result)}\n\n${formatModelFolderInfo(model)}` : formatInfo(result));
    if (!result.addonLoaded) {
      // The report is on stdout; the failure line and exit code 1 are those of every other command without the addon.
      console.error(`trt-vla info: ERR_ADDON_LOAD: the native addon did not load: ${result.addon.cause} (the fixes are listed above)`);
      return 1;
    }
    return 0;
  },
};
