/**
 * Power readings on a Jetson from `tegrastats`: per-rail instantaneous milliwatts (VDD_GPU_SOC,
 * VDD_CPU_CV, VIN_SYS_5V0 on AGX Orin; VDD_IN on Orin NX / Nano), averaged over the benchmark.
 * Absent elsewhere (no tegrastats binary): the benchmark then reports no energy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface PowerSummary {
  /** Mean power per rail over the samples, watts. */
  railsW: Record<string, number>;
  /** VDD_GPU_SOC + VDD_CPU_CV (AGX Orin) or VDD_IN (NX / Nano): the compute power peers report. */
  computeW: number;
  samples: number;
}

const CANDIDATES = ['/usr/bin/tegrastats', '/usr/sbin/tegrastats'];

/** Parses one tegrastats line into rail -> milliwatts (the first number after each rail name). */
export function parseTegrastatsLine(line: string): Record<string, number> {
  const rails: Record<string, number> = {};
  for (const m of line.matchAll(/\b((?:VDD|VIN)_[A-Z0-9_]+)\s+(\d+)mW/g)) rails[m[1]!] = Number(m[2]);
  return rails;
}

export class PowerSampler {
  #child: ChildProcess | undefined;
  #sums: Record<string, number> = {};
  #samples = 0;

  /** Starts sampling every intervalMs; false when tegrastats is not available. */
  start(intervalMs = 100): boolean {
    const binary = CANDIDATES.find((p) => existsSync(p));
    if (!binary) return false;
    this.#child = spawn(binary, ['--interval', String(intervalMs)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buffered = '';
    this.#child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const rails = parseTegrastatsLine(line);
        if (Object.keys(rails).length === 0) continue;
        for (const [k, v] of Object.entries(rails)) this.#sums[k] = (this.#sums[k] ?? 0) + v;
        this.#samples++;
      }
    });
    this.#child.on('error', () => undefined);
    return true;
  }

  stop(): PowerSummary | undefined {
    this.#child?.kill();
    this.#child = undefined;
    if (this.#samples === 0) return undefined;
    const railsW = Object.fromEntries(Object.entries(this.#sums).map(([k, v]) => [k, v / this.#samples / 1000]));
    const computeW = railsW.VDD_IN ?? (railsW.VDD_GPU_SOC ?? 0) + (railsW.VDD_CPU_CV ?? 0);
    return { railsW, computeW, samples: this.#samples };
  }
}
