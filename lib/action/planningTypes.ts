/** Public result and event types of the trajectory parser and the streaming decoder. */
import type { PlanningMode } from '../prompt/answerSpec.js';
import type { PlanningFormat, PlanningFormatSpec, ReasoningSectionKey } from '../prompt/formats.js';

/** One predicted waypoint in the current ego frame. */
export interface Waypoint {
  /** Seconds after now: (index + 1) × the format's step (0.5 s). */
  readonly t: number;
  /** Forward, metres. */
  readonly x: number;
  /** Leftward, metres. */
  readonly y: number;
}

/**
 * Every way an answer can deviate from the exact trained format. The parser still extracts what it
 * can; these say what was off and where.
 */
export type PlanningDiagnosticCode =
  /** The first waypoint came without a `<PLANNING>` tag before it. */
  | 'missing-open-tag'
  /** The text ended without `</PLANNING>`. */
  | 'missing-close-tag'
  /** The text between `<PLANNING>` (or the start) and the first waypoint is not the trained preamble. */
  | 'preamble-mismatch'
  /** Two waypoints are not separated by exactly `", "`. */
  | 'separator-mismatch'
  /** A coordinate is not written in the format's number style (e.g. `3.80` or `12` in nuScenes, `3.8` in q7). */
  | 'number-format'
  /** Spaces inside a waypoint bracket differ from `[x, y]`. */
  | 'bracket-spacing'
  /** More waypoints than requested; the extra ones are ignored. */
  | 'extra-waypoint'
  /** Fewer well-formed waypoints than requested. */
  | 'too-few-waypoints'
  /** The text ends inside an unclosed `[`. */
  | 'truncated-waypoint'
  /** Text where the format has none, or different text (between sections, after `</PLANNING>` …). */
  | 'unexpected-text'
  /** A known tag where it cannot be (a second `<PLANNING>`, a stray closing tag …); it is skipped. */
  | 'misplaced-tag'
  /** A reasoning section in fast mode (it is still parsed). */
  | 'unexpected-section'
  /** Slow mode: a reasoning section is absent before the PLANNING block. */
  | 'section-missing'
  /** Slow mode: a reasoning section is out of order or repeated. */
  | 'section-order'
  /** A reasoning section is not closed before the next tag or the end of the text. */
  | 'section-unclosed'
  /** A reasoning section's body lacks its trained lead-in or trailing newline. */
  | 'section-format';

export interface PlanningDiagnostic {
  readonly code: PlanningDiagnosticCode;
  /** Human-readable detail (expected vs found). */
  readonly message: string;
  /** Where it starts in the answer text, in UTF-16 code units. */
  readonly offset: number;
  /** How many code units it spans (0 for "something is missing here"). */
  readonly length: number;
}

export interface PlanningParseResult {
  /** The first N well-formed waypoints (N = the requested count), in order. */
  readonly waypoints: readonly Waypoint[];
  /** Whether N well-formed waypoints were found. */
  readonly complete: boolean;
  /** Every deviation from the exact format, in text order of detection. */
  readonly diagnostics: readonly PlanningDiagnostic[];
  /** Reasoning section texts (without the trained lead-in and trailing newline), by section. */
  readonly reasoning: Readonly<Partial<Record<ReasoningSectionKey, string>>>;
}

/** Emitted the moment a waypoint's closing bracket arrives (only for the first N). */
export interface WaypointEvent {
  readonly type: 'waypoint';
  /** 0-based index in the answer. */
  readonly index: number;
  readonly waypoint: Waypoint;
}

/** Emitted the moment a reasoning section's closing tag arrives (or the next tag closes it implicitly). */
export interface ReasoningEvent {
  readonly type: 'reasoning';
  readonly section: ReasoningSectionKey;
  readonly text: string;
}

export type PlanningStreamEvent = WaypointEvent | ReasoningEvent;

export interface ParsePlanningOptions {
  /** How many waypoints to take. Default: the format's count (6 nuScenes, 10 q7). */
  waypoints?: number;
  /** The trained answer format, by name or spec. Default 'nuscenes'. */
  format?: PlanningFormat | PlanningFormatSpec;
  /** 'slow' expects the reasoning sections before PLANNING; 'fast' expects none. Default 'fast'. */
  mode?: PlanningMode;
}
