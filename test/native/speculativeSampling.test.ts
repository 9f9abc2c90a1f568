// Speculative sampling is exact: verifying a drafted token with the deterministic-draft rule (accept with
// probability p(draft), else draw from p without the draft; native/vla/sampler.cc, the rule of vLLM's
// rejection sampler with draft probability 1 and of Leviathan et al. 2211.17192 for a point-mass draft)
// picks tokens with exactly the distribution of a plain step, under temperature, top-k, top-p, the
// repetition penalty and a grammar's allowed list, on a 12-token vocabulary.
//
// Each case draws 20,000 tokens from the real native Sampler, plain and with a draft, and runs Pearson's
// chi-square goodness-of-fit test of both against the exact distribution (computed here independently).
// Threshold: the 1 - 1e-4 quantile of chi-square with (support - 1) degrees of freedom, so a correct
// sampler fails a comparison with probability 1e-4 for a fresh seed; the seeds are fixed, so the test is
// deterministic. A sampler that accepted drafts too often (e.g. always, or with probability min(1, 2p))
// moves ~20,000 * |Δp| draws and fails by orders of magnitude.
import { describe, expect, it } from 'vitest';

import { testingAddon } from '../../lib/native.js';

interface Case {
  name: string;
  temperature: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  penalized?: number[];
  allowed?: number[];
}

const LOGITS = Float32Array.from([2.0, 1.5, 1.4, 1.0, 0.5, 0.3, 0.0, -0.5, -1.0, -2.0, -3.0, 1.45]);
const DRAWS = 20_000;

const sampleCounts = (spec: Record<string, unknown>): Float64Array =>
  (testingAddon() as unknown as { sampleCounts(spec: object): Float64Array }).sampleCounts(spec);

/** The distribution a plain step draws from, in the sampler's documented order (sampler.h). */
function exactDistribution(c: Case): number[] {
  const logits = Array.from(LOGITS);
  const penalty = c.repetitionPenalty ?? 1;
  for (const id of c.penalized ?? []) logits[id] = logits[id]! < 0 ? logits[id]! * penalty : logits[id]! / penalty;
  let candidates = (c.allowed ?? logits.map((_, i) => i)).map((id) => ({ id, logit: logits[id]! }));
  candidates.sort((a, b) => b.logit - a.logit || a.id - b.id);
  if (c.topK) candidates = candidates.slice(0, c.topK);
  const weights = candidates.map((x) => Math.exp((x.logit - candidates[0]!.logit) / c.temperature));
  const sum = weights.reduce((a, b) => a + b, 0);
  let nucleus = candidates.length;
  if ((c.topP ?? 1) < 1) {
    let cumulative = 0;
    nucleus = candidates.findIndex((_, i) => (cumulative += weights[i]! / sum) >= c.topP!) + 1;
  }
  const kept = weights.slice(0, nucleus).reduce((a, b) => a + b, 0);
  const p = new Array<number>(LOGITS.length).fill(0);
  for (let i = 0; i < nucleus; i++) p[candidates[i]!.id] = weights[i]! / kept;
  return p;
}

/** Upper 1e-4 quantile of chi-square with k degrees of freedom (Wilson-Hilferty; z = 3.719). */
function chiSquareCritical(k: number): number {
  const z = 3.719;
  return k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
}

function goodnessOfFit(counts: Float64Array, p: number[]): { statistic: number; critical: number; outside: number } {
  let statistic = 0;
  let outside = 0;
  let support = 0;
  for (let id = 0; id < p.length; id++) {
    if (p[id] === 0) {
      outside += counts[id]!;
      continue;
    }
    support++;
    const expected = DRAWS * p[id]!;
    statistic += (counts[id]! - expected) ** 2 / expected;
  }
  return { statistic, critical: chiSquareCritical(Math.max(1, support - 1)), outside };
}

const CASES: Case[] = [
  { name: 'temperature 1', temperature: 1 },
  { name: 'temperature 0.7, top-k 5', temperature: 0.7, topK: 5 },
  { name: 'temperature 1.3, top-p 0.8', temperature: 1.3, topP: 0.8 },
  { name: 'repetition penalty 1.3 on ids 0, 3, 9', temperature: 1, repetitionPenalty: 1.3, penalized: [0, 3, 9] },
  { name: 'a grammar list of 6 ids, top-p 0.9', temperature: 0.9, topP: 0.9, allowed: [1, 2, 3, 5, 8, 11] },
];

describe('speculative sampling has the distribution of plain sampling', () => {
  describe.each(CASES)('$name', (c) => {
    const p = exactDistribution(c);
    const byProbability = p.map((q, id) => ({ q, id })).sort((a, b) => b.q - a.q);
    // The likeliest token, a middling one, the least likely one kept, and one the step can never pick.
    const drafts = [
      byProbability[0]!.id,
      byProbability[Math.floor(byProbability.filter((x) => x.q > 0).length / 2)]!.id,
      byProbability.filter((x) => x.q > 0).at(-1)!.id,
      byProbability.find((x) => x.q === 0)?.id,
    ].filter((d): d is number => d !== undefined);

    it('plain draws fit the exact distribution', () => {
      const counts = sampleCounts({ ...c, logits: LOGITS, draws: DRAWS, seed: 11 });
      const fit = goodnessOfFit(counts, p);
      expect(fit.outside).toBe(0);
      expect(fit.statistic).toBeLessThan(fit.critical);
    });

    it.each(drafts.map((d) => [d]))('draft %i: verified draws fit the same distribution', (draft) => {
      const counts = sampleCounts({ ...c, logits: LOGITS, draws: DRAWS, seed: 1000 + draft, draft });
      const fit = goodnessOfFit(counts, p);
      expect(fit.outside).toBe(0);
      expect(fit.statistic).toBeLessThan(fit.critical);
    });
  });

  it('the test has power: accepting every draft, or with probability min(1, 2p), fails it by far', () => {
    const c = CASES[0]!;
    const p = exactDistribution(c);
    const draft = 5;
    // What a broken rule would produce, in expectation: the draft's share changes, the rest scales.
    for (const accept of [1, Math.min(1, 2 * p[draft]!)]) {
      const counts = Float64Array.from(p, (q, id) => DRAWS * (id === draft ? accept : (1 - accept) * (q / (1 - p[draft]!))));
      const fit = goodnessOfFit(counts, p);
      expect(fit.statistic).toBeGreaterThan(10 * fit.critical);
    }
  });

  it('greedy steps pick the argmax whatever the draft', () => {
    for (const draft of [-1, 0, 3, 11]) {
      const counts = sampleCounts({ logits: LOGITS, draws: 50, temperature: 0, draft });
      expect(counts[0]).toBe(50);
    }
  });
});
