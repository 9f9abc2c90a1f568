/**
 * The FPS benchmark: runs the full plan pipeline (frames -> preprocess -> vision -> prefill -> decode ->
 * parsed waypoints) over a sequence of frames and reports per-stage latency percentiles, time to first
 * token, time per output token, token rates, work per plan, end-to-end latency and sustained plans per
 * second, also with K concurrent sessions. Warm-up plans are never counted; one run uses one backend.
 */
import type { SpeculationState } from '../model/speculation.js';
import os from 'node:os';

import { addonInfo, type AddonRuntimeInfo } from '../info.js';
import { loadModel, type BackendChoice, type LoadModelOptions, type Model } from '../model/Model.js';
import { native } from '../native.js';
import type { PlanRequest, PlanResult, Timings } from '../model/types.js';
import type { PlanningMode } from '../prompt/answerSpec.js';
import type { EgoHistoryEntry } from '../prompt/egoHistory.js';
import type { PlanningFormat } from '../prompt/formats.js';
import { planHistory } from '../prompt/historyFields.js';
import { distribution, type Distribution } from './stats.js';
import { PowerSampler, type PowerSummary } from './tegrastats.js';
import { formatBytes, formatDuration, formatThroughput } from './units.js';

export interface BenchOptions {
  model: string;
  backend?: BackendChoice;
  /** Measured plans (default 20). */
  frames?: number;
  /** Plans run first and not counted, per session (default 3). */
  warmup?: number;
  format?: PlanningFormat;
  mode?: PlanningMode;
  /** Concurrent sessions (default 1). */
  sessions?: number;
  threads?: number;
  /** TensorRT: the Edge-LLM plugin library and CUDA-graph decode (see LoadModelOptions). */
  pluginLibrary?: string;
  cudaGraphs?: boolean;
  /** CPU: the LM head's storage (LoadModelOptions.lmHead; default 'auto'). */
  lmHead?: 'auto' | 'fp16' | 'q8';
  /** Speculative waypoint decoding (LoadModelOptions.speculation; default 'auto'). */
  speculation?: LoadModelOptions['speculation'];
  /** Synthetic camera frame size (default 1600 x 900, a nuScenes CAM_FRONT frame). */
  width?: number;
  height?: number;
  /** Grammar-constrained decoding (default true). */
  constrained?: boolean;
  /** Called after each measured plan (progress display). */
  onPlan?: (done: number, total: number) => void;
  /** Passed to loadModel: progress of loading the model. */
  onLoadProgress?: LoadModelOptions['onProgress'];
  /**
   * Called once after the measured plans, before the model is released, with each measured plan and
   * its request in index order (`bench --record`); kept in memory so that the timed loop writes nothing.
   */
  afterRun?: (model: Model, plans: readonly { request: PlanRequest; plan: PlanResult }[]) => Promise<void>;
}

export interface PlanRecord {
  index: number;
  session: number;
  endToEndMs: number;
  timings: Timings;
  waypoints: number;
  complete: boolean;
}

export interface BenchReport {
  schema: 'trt-vla-bench/1';
  createdAt: string;
  config: {
    model: string;
    backend: string;
    backendReason: string;
    /** The model's warnings (e.g. random weights: the figures are speed, not planning quality). */
    warnings: readonly string[];
    format: PlanningFormat;
    mode: PlanningMode;
    constrained: boolean;
    frames: number;
    warmup: number;
    sessions: number;
    frameSize: [number, number];
    threads: number;
    host: { cpus: number; cpuModel: string; platform: string; arch: string; node: string };
    runtime: AddonRuntimeInfo;
    modelShape: {
      hiddenSize: number;
      layers: number;
      vocabSize: number;
      weightBytes: number;
      /** The LM head's storage on the CPU backend ('q8', 'fp16', ...); 'engine' for TensorRT (fixed at engine build). */
      lmHead: string;
      kvCapacity: number;
    };
    /** Speculative decoding as the model was loaded (model.description.speculation). */
    speculation: SpeculationState;
  };
  /** Units of every figure below. */
  units: Record<string, string>;
  summary: {
    stages: Record<'preprocessMs' | 'visionMs' | 'embedMs' | 'prefillMs' | 'decodeMs', Distribution>;
    timeToFirstTokenMs: Distribution;
    timePerOutputTokenMs: Distribution;
    endToEndMs: Distribution;
    promptTokensPerSecond: Distribution;
    decodeTokensPerSecond: Distribution;
    generatedTokensPerPlan: Distribution;
    forwardPassesPerPlan: Distribution;
    forcedTokensPerPlan: Distribution;
    /** Engine calls after the prefill per generated token (jump-forward and speculation lower it). */
    forwardPassesPerToken: Distribution;
    /** Speculative decoding (model.description.speculation): drafted and accepted tokens per plan. */
    draftedTokensPerPlan: Distribution;
    acceptedDraftTokensPerPlan: Distribution;
    /** All plans' accepted / drafted tokens (0 when nothing was drafted). */
    draftAcceptance: number;
    promptTokensPerPlan: Distribution;
    imageTokensPerPlan: Distribution;
    completePlans: number;
    /** Measured plans / wall time of the measured phase (all sessions together). */
    fps: number;
    wallSeconds: number;
    peakRssBytes: number;
    /** Peak GPU memory held for engines (KV cache, buffers, TensorRT scratch; weights live in the engines). 0 on the CPU backend. */
    peakDeviceBytes: number;
    power?: PowerSummary & { energyPerPlanJ: number };
  };
  plans: PlanRecord[];
}

/** Straight driving at about 5 m/s with a slight left drift, t = -1.5 .. 0 s (q7) or -3 .. 0 s (nuScenes). */
export function syntheticHistory(entries: number): EgoHistoryEntry[] {
  return Array.from({ length: entries }, (_, i) => {
    const t = -(entries - 1 - i) * 0.5;
    return { t, x: Number((t * 5).toFixed(2)) || 0, y: Number((t * t * 0.04).toFixed(2)), ax: 0.12, ay: 0.02, vx: 5, vy: 0.1, speed: 5, steering: 0.8 };
  });
}

/** A camera-like synthetic frame: sky/road gradient, lane lines and per-frame texture. */
export function fillSyntheticFrame(data: Uint8Array, width: number, height: number, seed: number): void {
  let s = seed * 2654435761;
  for (let y = 0; y < height; y++) {
    const road = y > height * 0.45;
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = (s >>> 27) - 16;
      const lane = road && Math.abs(x - width / 2 - (y - height * 0.45) * 0.9 * (x < width / 2 ? -1 : 1)) < 4;
      const base = lane ? 230 : road ? 90 + (y * 60) / height : 170 + (y * 40) / height;
      const o = (y * width + x) * 3;
      data[o] = Math.max(0, Math.min(255, base + noise));
      data[o + 1] = Math.max(0, Math.min(255, base + noise + (road ? 0 : 10)));
      data[o + 2] = Math.max(0, Math.min(255, base + noise + (road ? 0 : 40)));
    }
  }
}

export const BENCH_UNITS: Record<string, string> = {
  Ms: 'milliseconds',
  fps: 'plans per second',
  TokensPerSecond: 'tokens per second',
  PerPlan: 'count per plan',
  PerToken: 'count per generated token',
  draftAcceptance: 'fraction of drafted tokens',
  Bytes: 'bytes',
  W: 'watts',
  J: 'joules',
  wallSeconds: 'seconds',
};

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const frames = options.frames ?? 20;
  const warmup = options.warmup ?? 3;
  const sessions = options.sessions ?? 1;
  const format = options.format ?? 'nuscenes';
  const mode = options.mode ?? 'fast';
  const width = options.width ?? 1600;
  const height = options.height ?? 900;
  const constrained = options.constrained ?? true;
  const runtime = await addonInfo();
  await using model = await loadModel(options.model, {
    backend: options.backend,
    threads: options.threads,
    concurrency: sessions,
    pluginLibrary: options.pluginLibrary,
    cudaGraphs: options.cudaGraphs,
    lmHead: options.lmHead,
    speculation: options.speculation,
    onProgress: options.onLoadProgress,
  });
  const views = format === 'q7' ? 3 : 1;
  const history = planHistory(format, undefined, syntheticHistory(format === 'q7' ? 4 : 7));
  // A few distinct camera frames, cycled (the pipeline cannot reuse anything across different frames).
  const cameraFrames = Array.from({ length: 4 * views }, (_, i) => {
    const f = model.allocFrame({ width, height, format: 'rgb8' });
    fillSyntheticFrame(f.data, width, height, i + 1);
    return f;
  });
  const sessionObjects = Array.from({ length: sessions }, () => model.createSession());
  const request = (i: number) => ({
    images: Array.from({ length: views }, (_, v) => cameraFrames[(i * views + v) % cameraFrames.length]!),
    ...history,
    mode,
    constrained,
  });

  for (const s of sessionObjects) for (let i = 0; i < warmup; i++) await s.plan(request(i));

  const records: PlanRecord[] = [];
  const kept: { index: number; request: PlanRequest; plan: PlanResult }[] | undefined = options.afterRun ? [] : undefined;
  let next = 0;
  const power = new PowerSampler();
  const measuringPower = power.start();
  const wallStart = performance.now();
  await Promise.all(
    sessionObjects.map(async (s, sessionIndex) => {
      while (next < frames) {
        const index = next++;
        const t0 = performance.now();
        const planRequest = request(index);
        const plan: PlanResult = await s.plan(planRequest);
        kept?.push({ index, request: planRequest, plan });
        records.push({
          index,
          session: sessionIndex,
          endToEndMs: performance.now() - t0,
          timings: plan.timings,
          waypoints: plan.waypoints.length,
          complete: plan.complete,
        });
        options.onPlan?.(records.length, frames);
      }
    }),
  );
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const powerSummary = measuringPower ? power.stop() : undefined;
  records.sort((a, b) => a.index - b.index);
  if (kept) await options.afterRun!(model, kept.sort((a, b) => a.index - b.index));

  const pick = (f: (r: PlanRecord) => number) => distribution(records.map(f));
  const ratioOfSums = (rs: PlanRecord[], num: (r: PlanRecord) => number, den: (r: PlanRecord) => number) => {
    const d = rs.reduce((a, r) => a + den(r), 0);
    return d > 0 ? rs.reduce((a, r) => a + num(r), 0) / d : 0;
  };
  const description = model.description;
  const report: BenchReport = {
    schema: 'trt-vla-bench/1',
    createdAt: new Date().toISOString(),
    config: {
      model: model.dir,
      backend: model.backend.backend,
      backendReason: model.backend.reason,
      warnings: model.warnings,
      format,
      mode,
      constrained,
      frames,
      warmup,
      sessions,
      frameSize: [width, height],
      threads: description.threads,
      host: { cpus: os.availableParallelism?.() ?? os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', platform: process.platform, arch: process.arch, node: process.version },
      runtime,
      modelShape: {
        hiddenSize: description.hiddenSize,
        layers: description.layers,
        vocabSize: description.vocabSize,
        weightBytes: description.weightBytes,
        lmHead: description.lmHead ?? 'engine',
        kvCapacity: description.kvCapacity,
      },
      speculation: description.speculation,
    },
    units: BENCH_UNITS,
    summary: {
      stages: {
        preprocessMs: pick((r) => r.timings.preprocessMs),
        visionMs: pick((r) => r.timings.visionMs),
        embedMs: pick((r) => r.timings.embedMs),
        prefillMs: pick((r) => r.timings.prefillMs),
        decodeMs: pick((r) => r.timings.decodeMs),
      },
      timeToFirstTokenMs: pick((r) => r.timings.firstTokenMs),
      // (last token - first token) / (tokens - 1), as NIM / AIPerf define TPOT.
      timePerOutputTokenMs: pick((r) => (r.timings.totalMs - r.timings.firstTokenMs) / Math.max(r.timings.generatedTokens - 1, 1)),
      endToEndMs: pick((r) => r.endToEndMs),
      promptTokensPerSecond: pick((r) => ((r.timings.promptTokens - r.timings.cachedPromptTokens) / r.timings.prefillMs) * 1000),
      decodeTokensPerSecond: pick((r) => (r.timings.generatedTokens / r.timings.decodeMs) * 1000),
      generatedTokensPerPlan: pick((r) => r.timings.generatedTokens),
      forwardPassesPerPlan: pick((r) => r.timings.forwardPasses),
      forcedTokensPerPlan: pick((r) => r.timings.forcedTokens),
      forwardPassesPerToken: pick((r) => r.timings.forwardPasses / Math.max(r.timings.generatedTokens, 1)),
      draftedTokensPerPlan: pick((r) => r.timings.draftedTokens),
      acceptedDraftTokensPerPlan: pick((r) => r.timings.acceptedDraftTokens),
      draftAcceptance: ratioOfSums(records, (r) => r.timings.acceptedDraftTokens, (r) => r.timings.draftedTokens),
      promptTokensPerPlan: pick((r) => r.timings.promptTokens),
      imageTokensPerPlan: pick((r) => r.timings.imageTokens),
      completePlans: records.filter((r) => r.complete).length,
      fps: frames / wallSeconds,
      wallSeconds,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      peakDeviceBytes: native().memoryStats().devicePeakBytes,
      power: powerSummary ? { ...powerSummary, energyPerPlanJ: (powerSummary.computeW * wallSeconds) / frames } : undefined,
    },
    plans: records,
  };
  for (const s of sessionObjects) await s.dispose();
  return report;
}

/** The readable table printed by `trt-vla bench`. */
export function formatBenchReport(r: BenchReport): string {
  const c = r.config;
  const s = r.summary;
  const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
  const row = (name: string, d: Distribution, digits = 1) =>
    `  ${name.padEnd(22)} ${f(d.p50, digits).padStart(9)} ${f(d.p90, digits).padStart(9)} ${f(d.p99, digits).padStart(9)} ${f(d.mean, digits).padStart(9)}`;
  const device = c.runtime.device ? `${c.runtime.device.name} (sm_${c.runtime.device.sm})` : 'none';
  const lines = [
    `trt-vla bench: ${c.frames} plans (${c.warmup} warm-up per session, not counted), ${c.sessions} session(s), ${c.format} / ${c.mode}${c.constrained ? ', constrained' : ''}`,
    ...c.warnings.map((w) => `  WARNING: ${w}`),
    `model   ${c.model}`,
    `        hidden ${c.modelShape.hiddenSize}, ${c.modelShape.layers} layers, ${(c.modelShape.weightBytes / 2 ** 20).toFixed(0)} MiB decoder weights, LM head ${c.modelShape.lmHead}`,
    `backend ${c.backend} (${c.backendReason}); ${c.threads} threads; device ${device}`,
    `build   trt-vla ${c.runtime.build.version} ${c.runtime.build.buildSystem}, ${c.runtime.cpu.simd} kernels; host ${c.host.cpuModel}, ${c.host.cpus} CPUs, node ${c.host.node}`,
    `frames  ${c.frameSize[0]}x${c.frameSize[1]} rgb8 (synthetic)`,
    '',
    `  ${'per plan'.padEnd(22)} ${'p50'.padStart(9)} ${'p90'.padStart(9)} ${'p99'.padStart(9)} ${'mean'.padStart(9)}`,
    row('preprocess (ms)', s.stages.preprocessMs),
    row('vision (ms)', s.stages.visionMs),
    row('embed (ms)', s.stages.embedMs),
    row('prefill (ms)', s.stages.prefillMs),
    row('decode (ms)', s.stages.decodeMs),
    row('first token (ms)', s.timeToFirstTokenMs),
    row('per output token (ms)', s.timePerOutputTokenMs, 2),
    row('end to end (ms)', s.endToEndMs),
    row('prompt tokens/s', s.promptTokensPerSecond, 0),
    row('decode tokens/s', s.decodeTokensPerSecond, 0),
    row('prompt tokens', s.promptTokensPerPlan, 0),
    row('image tokens', s.imageTokensPerPlan, 0),
    row('generated tokens', s.generatedTokensPerPlan, 0),
    row('forced tokens', s.forcedTokensPerPlan, 0),
    row('forward passes', s.forwardPassesPerPlan, 0),
    row('passes per token', s.forwardPassesPerToken, 3),
    ...(c.speculation.enabled
      ? [row('drafted tokens', s.draftedTokensPerPlan, 0), row('accepted drafts', s.acceptedDraftTokensPerPlan, 0)]
      : []),
    '',
    `  speculation            ${c.speculation.enabled ? `${f(s.draftAcceptance * 100, 1)}% of drafted tokens accepted; ${c.speculation.reason}` : c.speculation.reason}`,
    `  FPS (sustained)        ${formatThroughput(s.fps)} over ${formatDuration(s.wallSeconds * 1000)}; ${s.completePlans}/${c.frames} plans complete`,
    `  peak RSS               ${formatBytes(s.peakRssBytes)}`,
    `  peak device memory     ${c.backend === 'cpu' ? 'none (CPU backend)' : `${formatBytes(s.peakDeviceBytes)} for buffers and contexts (engine weights not included)`}`,
    s.power
      ? `  power                  ${f(s.power.computeW, 2)} W compute (${Object.entries(s.power.railsW).map(([k, v]) => `${k} ${f(v, 2)} W`).join(', ')}); ${f(s.power.energyPerPlanJ, 2)} J/plan`
      : '  power                  not measured (no tegrastats on this machine)',
  ];
  return lines.join('\n');
}
