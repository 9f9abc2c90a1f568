// What users get: the production addon exports the public surface only; the test hooks live in the
// separate test addon (trt_vla_testing.node, native/testing/), which is never installed for users.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/native.js';
import { testing } from '../helpers/native.js';

const HOOKS = ['simdLevels', 'convert', 'matmulQ4', 'loadCpuLlmEngine', 'loadCpuVisionEngine', 'checkEngine', 'graphKeyHash', 'cuda'];

describe('addon surface', () => {
  it('the production addon has no test hooks', () => {
    const addon = native() as unknown as Record<string, unknown>;
    expect(Object.keys(addon)).not.toContain('testing');
    for (const hook of HOOKS) expect(Object.keys(addon), hook).not.toContain(hook);
    expect(Object.keys(addon)).toEqual(expect.arrayContaining(['loadModel', 'NativeFrame', 'buildInfo', 'runtimeInfo', 'setErrorClass']));
  });

  it('the test addon has them, and throws TrtVlaErrors', () => {
    const hooks = testing() as unknown as Record<string, unknown>;
    for (const hook of HOOKS) expect(typeof hooks[hook], hook).not.toBe('undefined');
    expect(() => testing().convert('bogus' as 'floatToHalf', new Float32Array(1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
