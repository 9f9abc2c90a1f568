// Test access to the addon, including its test hooks (exports.testing).
import { native } from '../../lib/native.js';

export interface TestingHooks {
  simdLevels(): string[];
  convert(kind: 'halfToFloat' | 'bf16ToFloat', input: Uint16Array, level?: string): Float32Array;
  convert(kind: 'floatToHalf', input: Float32Array, level?: string): Uint16Array;
}

export function testing(): TestingHooks {
  return (native() as unknown as { testing: TestingHooks }).testing;
}
