/**
 * The speculation option of loadModel (speculative waypoint decoding): what was asked, what the engine
 * allows, and the state model.description reports.
 */
import { DEFAULT_MAX_DRAFT } from '../action/waypointDrafter.js';
import { TrtVlaError } from '../errors.js';
import { optionalInteger } from '../validate.js';

/** model.description.speculation. */
export interface SpeculationState {
  /** Whether plans draft and verify. */
  enabled: boolean;
  /** Most drafted tokens one verify call checks (0 when off). */
  maxDraft: number;
  /** Most tokens the LLM engine takes in one verify call (sampled token, forced run and drafts); 0: it cannot verify. */
  verifyTokens: number;
  /** Why it is on or off. */
  reason: string;
}

/** The largest maxDraft: a verify call holds the drafts plus the tokens before them (Edge-LLM's tree limit is 128). */
export const MAX_DRAFT_LIMIT = 64;

/**
 * Room in a CPU verify call for the tokens before the drafts: the sampled token and the grammar's forced
 * run after it (in the answer formats at most a few tokens: "], [" and the like).
 */
const CPU_CHAIN_HEADROOM = 4;

/** The requested drafts per verify call (0: off), from LoadModelOptions.speculation. */
export function parseSpeculationOption(option: unknown): { maxDraft: number; explicit: boolean } {
  if (option === undefined || option === 'auto') return { maxDraft: DEFAULT_MAX_DRAFT, explicit: false };
  if (option === 'off') return { maxDraft: 0, explicit: true };
  if (typeof option === 'object' && option !== null && !Array.isArray(option)) {
    const maxDraft = optionalInteger((option as { maxDraft?: unknown }).maxDraft, 'options.speculation.maxDraft', 1, MAX_DRAFT_LIMIT);
    return { maxDraft: maxDraft ?? DEFAULT_MAX_DRAFT, explicit: true };
  }
  throw new TrtVlaError('ERR_INVALID_ARGUMENT', `options.speculation must be 'auto', 'off' or { maxDraft }, got ${JSON.stringify(option) ?? String(option)}`);
}

/** The verify size the CPU LLM engine is loaded with (its EAGLE-base interface): 0 when speculation is off. */
export function cpuVerifyTokens(maxDraft: number): number {
  return maxDraft > 0 ? Math.min(128, maxDraft + CPU_CHAIN_HEADROOM) : 0;
}

/** What a loaded model does, given what was asked and the LLM engine's verify size. */
export function resolveSpeculation(asked: { maxDraft: number; explicit: boolean }, backend: 'cpu' | 'tensorrt', verifyTokens: number): SpeculationState {
  if (asked.maxDraft === 0) return { enabled: false, maxDraft: 0, verifyTokens, reason: "off (options.speculation: 'off')" };
  if (verifyTokens < 2) {
    const why =
      backend === 'tensorrt'
        ? 'the TensorRT LLM engine is a vanilla engine, which returns the logits of one token per call; build an EAGLE-base engine (tensorrt-edgellm-export-llm --is_eagle_base, llm_build --eagleBase --maxVerifyTreeSize 8) to verify drafts'
        : 'the LLM engine cannot verify several tokens per call';
    return { enabled: false, maxDraft: 0, verifyTokens, reason: `off: ${why}` };
  }
  const maxDraft = Math.min(asked.maxDraft, verifyTokens - 1);
  const source = asked.explicit ? 'options.speculation' : "'auto'";
  return {
    enabled: true,
    maxDraft,
    verifyTokens,
    reason: `on (${source}): up to ${maxDraft} drafted tokens per call, verified by the ${backend === 'cpu' ? 'CPU' : 'EAGLE-base TensorRT'} engine in calls of up to ${verifyTokens} tokens`,
  };
}
