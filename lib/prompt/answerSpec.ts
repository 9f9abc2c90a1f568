/**
 * What an answer must look like in each thinking mode. The user prompt is the same in both modes;
 * only the expected answer differs, so the mode travels with the prompt to the decoder and grammar.
 */
import { invalidArgument } from '../validate.js';
import {
  PLANNING_FORMATS,
  REASONING_SECTIONS,
  type PlanningFormat,
  type PlanningFormatSpec,
  type ReasoningSectionSpec,
} from './formats.js';

/**
 * 'fast': the answer is the PLANNING block only (what the released nuScenes checkpoints were trained
 * on). 'slow': the reasoning chain (Scene Description, Road Agent Analysis, Meta Planning) and then the
 * PLANNING block (experiments exp2–exp10 of the nuScenes pipeline).
 */
export type PlanningMode = 'fast' | 'slow';

export const PLANNING_MODES: readonly PlanningMode[] = ['fast', 'slow'];

export interface AnswerSpec {
  readonly mode: PlanningMode;
  /** Reasoning sections written before the PLANNING block, in order; empty in fast mode. */
  readonly sections: readonly ReasoningSectionSpec[];
  /** The PLANNING block that ends the answer. */
  readonly planning: PlanningFormatSpec;
}

/** Resolves a format name or spec; throws ERR_INVALID_ARGUMENT for anything else. */
export function resolvePlanningFormat(format: PlanningFormat | PlanningFormatSpec | undefined, name = 'format'): PlanningFormatSpec {
  if (format === undefined) return PLANNING_FORMATS.nuscenes;
  if (typeof format === 'string' && Object.hasOwn(PLANNING_FORMATS, format)) return PLANNING_FORMATS[format];
  if (typeof format === 'object' && format !== null && Object.values(PLANNING_FORMATS).includes(format)) return format;
  throw invalidArgument(name, `one of ${Object.keys(PLANNING_FORMATS).map((k) => `'${k}'`).join(', ')}`, format);
}

/** Resolves a mode; undefined means 'fast'. */
export function resolvePlanningMode(mode: unknown, name = 'mode'): PlanningMode {
  if (mode === undefined) return 'fast';
  if (typeof mode === 'string' && (PLANNING_MODES as readonly string[]).includes(mode)) return mode as PlanningMode;
  throw invalidArgument(name, `one of ${PLANNING_MODES.map((m) => `'${m}'`).join(', ')}`, mode);
}

/** The answer layout for a format and mode (default 'fast'). */
export function answerSpec(format: PlanningFormat | PlanningFormatSpec, mode: PlanningMode = 'fast'): AnswerSpec {
  const planning = resolvePlanningFormat(format);
  const resolvedMode = resolvePlanningMode(mode);
  return { mode: resolvedMode, sections: resolvedMode === 'slow' ? REASONING_SECTIONS : [], planning };
}

/** A built prompt: the user-message text plus what the answer must look like. */
export interface PlanningPrompt {
  /** The user message, with one `<image>` placeholder per image (the tokenizer expands them). */
  readonly text: string;
  /** Number of `<image>` placeholders, in the order the images must be passed. */
  readonly imageCount: number;
  /** The answer's PLANNING format (waypoint count, number style, exact preamble). */
  readonly format: PlanningFormatSpec;
  readonly mode: PlanningMode;
  /** The whole expected answer layout (sections before PLANNING, then PLANNING). */
  readonly answer: AnswerSpec;
}
