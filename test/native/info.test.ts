import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { info, type AddonRuntimeInfo } from '../../lib/index.js';
import { native, nativeAddonPath, packageRoot } from '../../lib/native.js';

/** info() where these tests run: with the addon loaded (else its message says why not). */
async function loadedInfo(): Promise<AddonRuntimeInfo> {
  const i = await info();
  if (!i.addonLoaded) throw new Error(`the addon did not load: ${i.addon.cause}`);
  return i;
}

describe('info()', () => {
  it('reports each backend with compiled / available / reason', async () => {
    const i = await loadedInfo();
    expect(i.backends.cpu).toEqual({ compiled: true, available: true });
    for (const name of ['cuda', 'tensorrt'] as const) {
      const s = i.backends[name];
      expect(typeof s.compiled).toBe('boolean');
      expect(typeof s.available).toBe('boolean');
      if (!s.available) expect(s.reason, `${name} needs a reason when unavailable`).toMatch(/\w+/);
    }
    // TensorRT cannot be installed on these machines: never compiled here, always with a reason.
    if (!i.build.backends.includes('tensorrt')) {
      expect(i.backends.tensorrt.compiled).toBe(false);
      expect(i.backends.tensorrt.reason).toMatch(/TensorRT|CPU-only build/);
    }
    expect(i.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(['avx512', 'avx2', 'neon-i8mm', 'neon-dotprod', 'neon', 'scalar']).toContain(i.cpu.simd);
    // The level in use is the best this CPU supports (TRT_VLA_SIMD caps it; the suite never sets it).
    const f = i.cpu.features;
    if (process.env.TRT_VLA_SIMD === undefined) {
      const avx512 = f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
      if (avx512) expect(i.cpu.simd).toBe('avx512');
      else if (f.avx2 && f.fma && f.f16c) expect(i.cpu.simd).toBe('avx2');
    }
    expect(i.build.addonPath).toBe(nativeAddonPath());
    expect(i.addon.path).toBe(nativeAddonPath());
    expect(i.addon.candidates.find((c) => c.outcome === 'loaded')?.location).toBe(nativeAddonPath());
    expect(i.package.version).toBe(i.build.version);
    expect(i.build.version).toBe(JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version);
  });

  it('agrees with the build: a CUDA build reports cuda compiled, with a device or a reason', async () => {
    const i = await loadedInfo();
    const cudaBuilt = i.build.backends.includes('cuda');
    expect(i.backends.cuda.compiled).toBe(cudaBuilt);
    if (cudaBuilt) {
      expect(i.cuda?.runtimeVersion).toMatch(/^\d+\.\d+$/);
      if (i.backends.cuda.available) {
        expect(i.device?.sm).toBeGreaterThan(0);
      } else {
        expect(i.backends.cuda.reason).toMatch(/^no CUDA device: /);
        expect(i.device).toBeUndefined();
      }
    }
  });

  it.runIf(process.env.TRT_VLA_SANITIZED === '1')('runs the sanitizer build when asked to', () => {
    expect(native().buildInfo().sanitize).toBe(true);
  });

  it('writes build-info.json next to the binary, matching the binary', () => {
    const file = path.join(path.dirname(nativeAddonPath()), 'build-info.json');
    expect(existsSync(file)).toBe(true);
    const written = JSON.parse(readFileSync(file, 'utf8'));
    const fromBinary = native().buildInfo();
    expect(written.backends).toEqual(fromBinary.backends);
    expect(written.buildSystem).toBe(fromBinary.buildSystem);
  });
});

describe('trt-vla info', () => {
  const cli = path.join(packageRoot, 'dist', 'cli', 'main.js');

  it('prints the runtime info as JSON with --json', () => {
    const out = execFileSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8', env: process.env });
    const parsed = JSON.parse(out);
    expect(Object.keys(parsed.backends)).toEqual(['cpu', 'cuda', 'tensorrt']);
    expect(parsed.backends.cpu.available).toBe(true);
    expect(parsed.build).toBeDefined();
  });

  // TRT_VLA_SIMD (native/core/cpu_features.cc simdLevel()): 'scalar' forces the reference kernels, 'avx2'
  // keeps an AVX-512 machine on AVX2, 'neon' / 'neon-dotprod' cap arm64; a level the CPU lacks never gets picked.
  it('TRT_VLA_SIMD caps the kernel level', () => {
    const simdWith = (value: string) =>
      JSON.parse(execFileSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8', env: { ...process.env, TRT_VLA_SIMD: value } })).cpu;
    expect(simdWith('scalar').simd).toBe('scalar');
    const capped = simdWith('avx2');
    const f = capped.features;
    const avx2 = f.avx2 && f.fma && f.f16c;
    const bestNeon = f.neonDot ? (f.neonI8mm ? 'neon-i8mm' : 'neon-dotprod') : 'neon';
    expect(capped.simd).toBe(avx2 ? 'avx2' : f.neon ? bestNeon : 'scalar');
    // 'neon' keeps arm64 at baseline NEON (no SDOT), 'neon-dotprod' at SDOT (no USMMLA); elsewhere they cap nothing.
    expect(simdWith('neon').simd).toBe(f.neon ? 'neon' : simdWith('best').simd);
    expect(simdWith('neon-dotprod').simd).toBe(f.neon ? (f.neonDot ? 'neon-dotprod' : 'neon') : simdWith('best').simd);
  });

  it('prints a readable table by default', () => {
    const out = execFileSync(process.execPath, [cli, 'info'], { encoding: 'utf8', env: process.env });
    expect(out).toMatch(/^ {2}cpu {7}available/m);
    expect(out).toMatch(/^ {2}tensorrt /m);
  });
});
