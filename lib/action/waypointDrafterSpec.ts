/**
 * The per-request input of the native waypoint drafter (native/vla/waypoint_drafter.h): everything
 * the TypeScript WaypointDrafter (waypointDrafter.ts) takes from the tokenizer, the grammar, the format and the ego
 * history, as plain numbers, strings and typed arrays, so the native decode loop drafts on every verify
 * call without calling back into JavaScript. native/napi/drafter_spec.cc parses it.
 *
 * The native drafter ports the drafter's arithmetic and number printing but not the BPE: it needs the
 * canonical tokens of the text it guesses. The Qwen2 pre-tokenizer makes every digit a pre-token of
 * its own (`\p{N}`) and splits "." and the punctuation between numbers from the digits around them,
 * so the canonical tokens of a PLANNING block are the canonical tokens of each literal between two
 * numbers (with the "-" of a following negative number, which joins the literal's last pre-token:
 * " [-", " -") and one token per digit and per ".". {@link buildDrafterTokenSpec} checks that on a
 * sample block with this tokenizer and refuses a tokenizer that breaks it.
 */
import { TrtVlaError } from '../errors.js';
import { validateEgoHistory, type EgoHistoryEntry } from '../prompt/egoHistory.js';
import { PLANNING_OPEN_TAG, formatCoordinate, formatPlanningBlock, type PlanningFormat, type PlanningFormatSpec } from '../prompt/formats.js';
import { planningSpec } from './grammar.js';
import { STATE_FREE, type GrammarAutomaton } from './grammarAutomaton.js';
import type { GrammarTokenizer } from './grammarCompiler.js';
import { historyPath } from './waypointExtrapolation.js';

export const DRAFTER_SPEC_VERSION = 1;

/** Limits the native side enforces too (native/vla/waypoint_drafter.h). */
export const MAX_DRAFTER_TABLE_TOKENS = 8192;
export const MAX_DRAFTER_TABLE_BYTES = 256 * 1024;

/** Canonical token ids of the texts between numbers; `…Minus`: followed by the sign of a negative number. */
export interface DrafterLiteralTokens {
  /** `preamble + "["`. */
  readonly first: Int32Array;
  readonly firstMinus: Int32Array;
  /** `", "` between x and y. */
  readonly comma: Int32Array;
  readonly commaMinus: Int32Array;
  /** `"]" + separator + "["` between two waypoints. */
  readonly between: Int32Array;
  readonly betweenMinus: Int32Array;
  /** `"]" + closing` after the last waypoint. */
  readonly closing: Int32Array;
}

export interface WaypointDrafterSpec {
  readonly version: typeof DRAFTER_SPEC_VERSION;
  /** The answer format (formats.ts). */
  readonly waypoints: number;
  readonly numberStyle: 'round2' | 'fixed2';
  readonly openTag: string;
  readonly preamble: string;
  readonly separator: string;
  readonly closing: string;
  /**
   * The bytes of every token that can be written from the PLANNING open tag on (every token a LIST
   * state of the grammar allows, every token that leaves free text, and the drafter's own tokens):
   * ids strictly ascending, token i is `tokenBytes[tokenOffsets[i] .. tokenOffsets[i + 1])`. Native
   * code rebuilds the text written since the last token outside this table.
   */
  readonly tokenIds: Int32Array;
  readonly tokenOffsets: Int32Array;
  readonly tokenBytes: Uint8Array;
  /** The single token of each digit "0" … "9", and of ".". */
  readonly digitTokens: Int32Array;
  readonly dotToken: number;
  /** The end-of-turn token, drafted after the closing tag where the grammar allows it. */
  readonly endTokenId: number;
  readonly literalTokens: DrafterLiteralTokens;
  /** The ego history's positions, oldest first: x0, y0, x1, y1, … (metres). */
  readonly path: Float64Array;
  /** The last history entry's status (waypointExtrapolation.ts extrapolateNext): speed ?? vx ?? 0, ax ?? 0, ay ?? 0. */
  readonly speed: number;
  readonly ax: number;
  readonly ay: number;
}

/**
 * The part of the spec that depends on the tokenizer, the grammar and the format only: computed once
 * where the tokenizer lives (TokenizerHost.drafterTokens runs it on the tokenizer thread) and posted
 * as plain data; {@link waypointDrafterSpec} adds a request's history.
 */
export type DrafterTokenSpec = Omit<WaypointDrafterSpec, 'path' | 'speed' | 'ax' | 'ay'>;

/** Per tokenizer and grammar (the grammar is compiled for one tokenizer and format, and cached). */
const tokenParts = new WeakMap<GrammarTokenizer, WeakMap<GrammarAutomaton, Map<string, DrafterTokenSpec>>>();

function specError(message: string): TrtVlaError {
  return new TrtVlaError('ERR_INVALID_ARGUMENT', `Cannot build the waypoint drafter: ${message}`);
}

function binaryBytes(binary: string): number[] {
  return Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** The ids the native drafter may need the bytes of: see {@link WaypointDrafterSpec.tokenIds}. */
function blockTokens(grammar: GrammarAutomaton): Set<number> {
  const ids = new Set<number>();
  for (let s = 0; s < grammar.numStates; s++) {
    const free = grammar.kind[s] === STATE_FREE;
    for (let i = grammar.transOffsets[s]!; i < grammar.transOffsets[s + 1]!; i++) {
      const next = grammar.transNext[i]!;
      // A free-text state lists the tokens that touch its closing marker; of those, only the ones that
      // leave free text can hold the start of the PLANNING block.
      if (!free || (next >= 0 && grammar.kind[next] !== STATE_FREE)) ids.add(grammar.transTokens[i]!);
    }
  }
  return ids;
}

function computeTokenSpec(tokenizer: GrammarTokenizer, grammar: GrammarAutomaton, spec: PlanningFormatSpec): DrafterTokenSpec {
  if (grammar.vocabSize !== tokenizer.vocabSize || grammar.textVocabSize !== tokenizer.textVocabSize) {
    throw specError('the grammar was compiled for another tokenizer');
  }
  const single = (text: string): number => {
    const ids = tokenizer.encode(text);
    if (ids.length !== 1) throw specError(`the tokenizer writes ${JSON.stringify(text)} as ${ids.length} tokens, not one`);
    return ids[0]!;
  };
  const digitTokens = Int32Array.from({ length: 10 }, (_, d) => single(String(d)));
  const dotToken = single('.');
  const encode = (text: string): Int32Array => Int32Array.from(tokenizer.encode(text));
  const first = `${spec.preamble}[`;
  const between = `]${spec.separator}[`;
  const literalTokens: DrafterLiteralTokens = {
    first: encode(first),
    firstMinus: encode(`${first}-`),
    comma: encode(', '),
    commaMinus: encode(', -'),
    between: encode(between),
    betweenMinus: encode(`${between}-`),
    closing: encode(`]${spec.closing}`),
  };

  // The pieces must concatenate to the canonical tokens of a whole block: check on one with every
  // kind of number the formats print (signs, one to three integer digits, zeros).
  const values = [3.25, -12.5, 0, 104.07, -0.04, 22.31, -908.1, 0.07, 7, -0.5];
  const sample = Array.from({ length: spec.waypoints }, (_, i) => ({ x: values[(2 * i) % values.length]!, y: values[(2 * i + 1) % values.length]! }));
  const expected: number[] = [];
  sample.forEach((point, i) => {
    for (const [k, value] of [[2 * i, point.x], [2 * i + 1, point.y]] as const) {
      const printed = formatCoordinate(value, spec.numberStyle);
      const negative = printed.startsWith('-');
      const piece = k === 0 ? 'first' : k % 2 === 1 ? 'comma' : 'between';
      expected.push(...literalTokens[negative ? (`${piece}Minus` as const) : piece]);
      for (const ch of negative ? printed.slice(1) : printed) expected.push(ch === '.' ? dotToken : digitTokens[Number(ch)]!);
    }
  });
  expected.push(...literalTokens.closing);
  const actual = tokenizer.encode(formatPlanningBlock(sample, spec));
  if (actual.length !== expected.length || actual.some((id, i) => id !== expected[i])) {
    throw specError('the tokenizer does not split the PLANNING block into the literals and single digits the native drafter relies on');
  }

  const ids = blockTokens(grammar);
  for (const list of [...Object.values(literalTokens), digitTokens, [dotToken]]) for (const id of list) ids.add(id);
  const tokenIds = Int32Array.from([...ids].sort((a, b) => a - b));
  if (tokenIds.length > MAX_DRAFTER_TABLE_TOKENS) {
    throw specError(`the grammar admits ${tokenIds.length} tokens in the PLANNING block, more than ${MAX_DRAFTER_TABLE_TOKENS}`);
  }
  const tokenOffsets = new Int32Array(tokenIds.length + 1);
  const bytes: number[] = [];
  tokenIds.forEach((id, i) => {
    bytes.push(...binaryBytes(tokenizer.tokenBinary(id)));
    tokenOffsets[i + 1] = bytes.length;
  });
  if (bytes.length > MAX_DRAFTER_TABLE_BYTES) {
    throw specError(`the PLANNING block's tokens hold ${bytes.length} bytes, more than ${MAX_DRAFTER_TABLE_BYTES}`);
  }
  return {
    version: DRAFTER_SPEC_VERSION,
    waypoints: spec.waypoints,
    numberStyle: spec.numberStyle,
    openTag: PLANNING_OPEN_TAG,
    preamble: spec.preamble,
    separator: spec.separator,
    closing: spec.closing,
    tokenIds,
    tokenOffsets,
    tokenBytes: Uint8Array.from(bytes),
    digitTokens,
    dotToken,
    endTokenId: grammar.endTokenId,
    literalTokens,
  };
}

/**
 * The tokenizer's part of the native drafter's spec for answers in `format`, constrained by `grammar`
 * (compiled with `tokenizer` for that format), cached per tokenizer, grammar and format. Throws
 * ERR_INVALID_ARGUMENT for a grammar of another tokenizer, or a tokenizer whose canonical tokens of
 * numbers are not single digits.
 */
export function buildDrafterTokenSpec(
  tokenizer: GrammarTokenizer,
  grammar: GrammarAutomaton,
  format: PlanningFormat | PlanningFormatSpec,
): DrafterTokenSpec {
  const spec = planningSpec(format);
  let perTokenizer = tokenParts.get(tokenizer);
  if (!perTokenizer) tokenParts.set(tokenizer, (perTokenizer = new WeakMap()));
  let perGrammar = perTokenizer.get(grammar);
  if (!perGrammar) perTokenizer.set(grammar, (perGrammar = new Map()));
  const key = JSON.stringify(spec);
  let part = perGrammar.get(key);
  if (!part) perGrammar.set(key, (part = computeTokenSpec(tokenizer, grammar, spec)));
  return part;
}

/** A request's spec: the token part and the prompt's ego `history` (validated: ERR_INVALID_ARGUMENT). */
export function waypointDrafterSpec(tokens: DrafterTokenSpec, history: readonly EgoHistoryEntry[]): WaypointDrafterSpec {
  const entries = validateEgoHistory(history, { name: 'history' });
  const status = entries[entries.length - 1]!;
  return {
    ...tokens,
    path: Float64Array.from(historyPath(entries).flatMap((p) => [p.x, p.y])),
    speed: status.speed ?? status.vx ?? 0,
    ax: status.ax ?? 0,
    ay: status.ay ?? 0,
  };
}

/**
 * The native drafter's spec for one request (what WaypointDrafter (waypointDrafter.ts) takes, as plain data):
 * {@link buildDrafterTokenSpec} with {@link waypointDrafterSpec}.
 */
export function buildWaypointDrafterSpec(
  tokenizer: GrammarTokenizer,
  grammar: GrammarAutomaton,
  format: PlanningFormat | PlanningFormatSpec,
  history: readonly EgoHistoryEntry[],
): WaypointDrafterSpec {
  return waypointDrafterSpec(buildDrafterTokenSpec(tokenizer, grammar, format), history);
}
