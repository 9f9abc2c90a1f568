// Runs only where a CUDA device is usable (skipped cleanly in CI and on CPU-only machines).
import { describe, expect, it } from 'vitest';

import { info } from '../../lib/index.js';
import { native } from '../../lib/native.js';

const runtime = await info();
const hasGpu = runtime.backends.cuda.available;

describe.skipIf(!hasGpu)('CUDA wrappers on a GPU', () => {
  it('stream, events, mapped pinned memory and a kernel work together', async () => {
    const result = await native().cudaSelfTest(1 << 20);
    expect(result.correct).toBe(true);
    expect(result.elements).toBe(1 << 20);
    expect(result.kernelMs).toBeGreaterThan(0);
    if (runtime.device?.canMapHostMemory) expect(result.readMappedMemory).toBe(true);
  });

  it('frames are pinned when a device exists', async () => {
    const { allocFrame } = await import('../../lib/index.js');
    const frame = allocFrame({ width: 64, height: 64, format: 'rgb8' });
    expect(frame.pinned).toBe(true);
    frame.dispose();
  });
});

describe.skipIf(hasGpu)('CUDA without a device', () => {
  it('reports the backend unavailable instead of failing', async () => {
    if (!runtime.backends.cuda.compiled) {
      await expect(native().cudaSelfTest(16)).rejects.toMatchObject({ code: 'ERR_BACKEND_UNAVAILABLE' });
      return;
    }
    await expect(native().cudaSelfTest(16)).rejects.toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/^no CUDA device: /),
    });
  });
});
