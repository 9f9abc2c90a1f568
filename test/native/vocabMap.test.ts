// Reduced-vocabulary engines (Edge-LLM --reduced_vocab_dir: vocab_map.safetensors + reduced_vocab_size).
// The CPU engine emulates one exactly (its logits are the LM-head rows of the mapped ids), so the
// whole path runs here: engine logits, the session's mapping back to full ids, grammar restriction in
// the reduced space, and load-time validation.
import { rmSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type Model, TrtVlaError } from '../../lib/index.js';
import { embedTokens, LlmSession, loadLlm, textDims } from '../helpers/engineDriver.js';
import { testModel } from '../helpers/models.js';
import { withVocabMap } from '../helpers/vocabMap.js';

const PROMPT = [151644, 872, 198, 3838, 374, 279, 1790, 3019, 30, 151645, 198, 151644, 77091, 198];

/** Sorted unique ids. */
function idSet(...lists: Iterable<number>[]): number[] {
  return [...new Set(lists.flatMap((l) => [...l]))].sort((a, b) => a - b);
}

async function loadError(dir: string): Promise<TrtVlaError> {
  const err = await loadModel(dir).then(
    (m) => m.dispose().then(() => undefined),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TrtVlaError);
  return err as TrtVlaError;
}

describe('reduced vocabularies', () => {
  let src: string;
  const temp: string[] = [];
  const models: Model[] = [];
  beforeAll(async () => {
    src = await testModel('tiny', 'awq');
  });
  afterAll(async () => {
    for (const m of models) await m.dispose();
    for (const d of temp) rmSync(d, { recursive: true, force: true });
  });

  it('engine: logit j of a reduced engine is logit map[j] of the full engine', async () => {
    const dims = textDims(src);
    const map = idSet([0, 1, 2, 100, 101, 102, 103, 5000, 151643, 151644, 151645], Array.from({ length: 300 }, (_, i) => 7 + i * 491));
    const full = await loadLlm(src, { maxKvCapacity: 64, maxInputLength: 64 });
    const reduced = await loadLlm(src, { maxKvCapacity: 64, maxInputLength: 64, vocabMap: map });
    try {
      expect(reduced.tensors().find((t) => t.name === 'logits')!.shape).toEqual([-1, -1, map.length]);
      const embeds = embedTokens(src, PROMPT, dims.hiddenSize);
      const a = new LlmSession(full, dims, 64, 1).prefill(embeds, PROMPT.length);
      const b = new LlmSession(reduced, dims, 64, 1).prefill(embeds, PROMPT.length);
      expect(b.length).toBe(map.length);
      let worst = 0;
      map.forEach((id, j) => (worst = Math.max(worst, Math.abs(b[j]! - a[id]!) / (Math.abs(a[id]!) + 1e-3))));
      expect(worst).toBeLessThan(1e-5);
    } finally {
      full.dispose();
      reduced.dispose();
    }
  });

  it('generation: the same greedy tokens when the map keeps them; never a token outside the map', async () => {
    const full = await loadModel(src, { maxKvCapacity: 256 });
    models.push(full);
    const reference = await full.generate({ tokens: PROMPT, maxTokens: 12, sampling: { temperature: 0, repetitionPenalty: 1 } });
    const keep = idSet(reference.tokens, [151643, 151645], Array.from({ length: 2000 }, (_, i) => i * 75));
    const dirKeep = withVocabMap(src, keep);
    temp.push(dirKeep);
    const kept = await loadModel(dirKeep, { maxKvCapacity: 256 });
    models.push(kept);
    const same = await kept.generate({ tokens: PROMPT, maxTokens: 12, sampling: { temperature: 0, repetitionPenalty: 1 } });
    expect([...same.tokens]).toEqual([...reference.tokens]);

    // Drop the first token the full model picks: the reduced model must choose something else, from the map.
    const first = reference.tokens[0]!;
    const without = keep.filter((id) => id !== first);
    const dirWithout = withVocabMap(src, without);
    temp.push(dirWithout);
    const cut = await loadModel(dirWithout, { maxKvCapacity: 256 });
    models.push(cut);
    const other = await cut.generate({ tokens: PROMPT, maxTokens: 12, sampling: { temperature: 0.8, topK: 50, seed: 3 } });
    expect(other.tokens[0]).not.toBe(first);
    const allowed = new Set(without);
    for (const t of other.tokens) expect(allowed.has(t)).toBe(true);
  });

  it('plans under the answer grammar when the map keeps its tokens, and says so when it does not', async () => {
    const frameSize = { width: 64, height: 64, format: 'rgb8' as const };
    const history = [
      { t: -0.5, x: -2, y: 0, ax: 0, ay: 0, vx: 4, speed: 4, steering: 0 },
      { t: 0, x: 0, y: 0, ax: 0, ay: 0, vx: 4, speed: 4, steering: 0 },
    ];
    // Every id below 152000 except a run of digits' tokens would be most of the vocabulary; instead keep
    // the low ids (ASCII-range BPE pieces, which include the digits and punctuation) and the specials.
    const dirAscii = withVocabMap(src, idSet(Array.from({ length: 1000 }, (_, i) => i), [151643, 151644, 151645, 151652, 151653, 151655]));
    temp.push(dirAscii);
    const ascii = await loadModel(dirAscii, { maxKvCapacity: 1024 });
    models.push(ascii);
    const frame = ascii.allocFrame(frameSize);
    const plan = await ascii.plan({ images: [frame], history });
    expect(plan.complete).toBe(true);
    expect(plan.waypoints).toHaveLength(6);

    // Without the digit tokens (ids 15..24 are "0".."9" in Qwen's BPE) no waypoint can be written.
    const noDigits = idSet(Array.from({ length: 1000 }, (_, i) => i).filter((i) => i < 15 || i > 24), [151643, 151644, 151645]);
    const dirNoDigits = withVocabMap(src, noDigits);
    temp.push(dirNoDigits);
    const crippled = await loadModel(dirNoDigits, { maxKvCapacity: 1024 });
    models.push(crippled);
    const err = await crippled.plan({ images: [crippled.allocFrame(frameSize)], history }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrtVlaError);
    expect((err as TrtVlaError).code).toBe('ERR_INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/reduced vocabulary lacks \(vocab_map.safetensors\)/);
  });

  it('rejects inconsistent maps at load, naming the file', async () => {
    const cases: [number[], number | null, RegExp][] = [
      [[5, 3, 9], 3, /ascending order without repeats/],
      [[1, 2, 2], 3, /ascending order without repeats/],
      [[1, 2, 200000], 3, /outside the vocabulary/],
      [[1, 2, 3], 4, /declares reduced_vocab_size = 4 but .*vocab_map.safetensors maps 3 ids/],
    ];
    for (const [ids, declared, message] of cases) {
      const dir = withVocabMap(src, ids, declared);
      temp.push(dir);
      const err = await loadError(dir);
      expect(err.code).toBe('ERR_MODEL_LOAD');
      expect(err.message).toMatch(message);
    }
    // reduced_vocab_size without the file.
    const dir = withVocabMap(src, [1, 2, 3]);
    temp.push(dir);
    rmSync(path.join(dir, 'llm', 'vocab_map.safetensors'));
    const err = await loadError(dir);
    expect(err.code).toBe('ERR_MODEL_LOAD');
    expect(err.message).toMatch(/reduced_vocab_size = 3 but the bundle has no vocab_map.safetensors/);
  });
});
