/**
 * Which ego-history fields each planning prompt prints: one table that the TypeScript types
 * ({@link HistoryEntryFor}, PlanRequest) and the runtime check ({@link validatePlanHistory}) both
 * read, so the compiler rejects exactly the histories the prompt builders would.
 *
 * Sources (shared docs impromptu-vla.md): the nuScenes prompt prints per entry `Acceleration: X {ax},
 * Y {ay} m/s^2, Velocity: {v} m/s, Steering angle: {steer}` in the released data (§2.1, wording
 * 'speed'), `Velocity: X {vx}` instead at the pipeline's HEAD ('velocity-x'), or positions only for
 * scenes without CAN bus data ('none'); the q7 prompt prints `Acceleration: X {ax}, Y {ay} m/s^2,
 * Velocity: X {vx}, Y {vy} m/s` for every entry and has no wording without them (§2.2).
 */
import { TrtVlaError } from '../errors.js';
import { invalidArgument, isObject } from '../validate.js';
import { validateEgoHistory, type EgoHistoryEntry, type EgoStatusField } from './egoHistory.js';
import type { PlanningFormat } from './formats.js';

/** A status field every entry must carry, or a list of alternatives of which one must be there. */
export type HistoryFieldRequirement = EgoStatusField | readonly EgoStatusField[];

/**
 * The status fields each prompt prints for every history entry (t, x and y are always required).
 * nuscenes: per status wording (`statusWording`, default 'speed'); 'speed' prints `speed`, or `vx`
 * when `speed` is absent. q7: one wording.
 */
export const HISTORY_FIELDS = {
  nuscenes: {
    speed: ['ax', 'ay', ['speed', 'vx'], 'steering'],
    'velocity-x': ['ax', 'ay', 'vx', 'steering'],
    none: [],
  },
  q7: ['ax', 'ay', 'vx', 'vy'],
} as const satisfies {
  nuscenes: Record<string, readonly HistoryFieldRequirement[]>;
  q7: readonly HistoryFieldRequirement[];
};

/**
 * How each history entry's status is worded in the nuScenes prompt.
 * - 'speed': `Velocity: {v} m/s` — the wording of the released `nuscenes_*.json` (the variant in
 *   `pipeline_meta_planning.py`). Prints `speed`, or `vx` when `speed` is absent (the generator
 *   printed the CAN bus forward velocity here).
 * - 'velocity-x': `Velocity: X {vx}` — `convert_status` in `pipeline_ego_status.py` at HEAD.
 * - 'none': positions only — what the generator wrote when a scene had no CAN bus data.
 */
export type NuScenesStatusWording = keyof (typeof HISTORY_FIELDS)['nuscenes'];

export const NUSCENES_STATUS_WORDINGS = Object.keys(HISTORY_FIELDS.nuscenes) as readonly NuScenesStatusWording[];

/** The prompt a history is checked against: a format, and for nuscenes the status wording. */
export type HistoryPrompt = { format: 'nuscenes'; statusWording?: NuScenesStatusWording } | { format: 'q7' };

// ---- Types derived from the table --------------------------------------------------------------

/** One requirement as a type: the field present (a number), or one of the alternatives present. */
type Present<R> = R extends EgoStatusField ? { readonly [K in R]: number } : R extends readonly (infer F extends EgoStatusField)[] ? AnyOf<F> : never;

/** A union with one member per alternative (distributes over F). */
type AnyOf<F extends EgoStatusField> = F extends EgoStatusField ? { readonly [K in F]: number } : never;

/** Every requirement of a list, intersected. */
type AllPresent<Rs> = Rs extends readonly [infer Head, ...infer Tail] ? Present<Head> & AllPresent<Tail> : unknown;

/** A history entry carrying the fields a requirement list names (e.g. `typeof HISTORY_FIELDS.q7`). */
export type EntryWithFields<Rs extends readonly HistoryFieldRequirement[]> = EgoHistoryEntry & AllPresent<Rs>;

/** A history entry the nuScenes prompt accepts with this status wording (default 'speed'). */
export type NuScenesHistoryEntry<W extends NuScenesStatusWording = 'speed'> = EntryWithFields<(typeof HISTORY_FIELDS)['nuscenes'][W]>;

/** A history entry the q7 prompt accepts: `ax`, `ay`, `vx` and `vy` present. */
export type Q7HistoryEntry = EntryWithFields<(typeof HISTORY_FIELDS)['q7']>;

/** The entry type a prompt accepts. */
export type HistoryEntryFor<P extends HistoryPrompt> = P extends { format: 'q7' }
  ? Q7HistoryEntry
  : P extends { statusWording: infer W extends NuScenesStatusWording }
    ? NuScenesHistoryEntry<W>
    : NuScenesHistoryEntry;

/**
 * The part of a plan request that must agree with each other: the format, the nuScenes status
 * wording, and a history carrying the fields that prompt prints. A union: `format: 'q7'` with a
 * history lacking `vy` does not compile.
 */
export type PlanHistory =
  | {
      [W in NuScenesStatusWording]: {
        /** 'nuscenes' (6 waypoints / 3 s, the default). */
        format?: 'nuscenes';
        /** Ego history, oldest first, ending at t = 0 at the origin, with the fields this wording prints. */
        history: readonly NuScenesHistoryEntry<W>[];
      } & (W extends 'speed' ? { /** nuScenes status wording. Default 'speed'. */ statusWording?: W } : { statusWording: W });
    }[NuScenesStatusWording]
  | {
      /** 'q7' (10 waypoints / 5 s). */
      format: 'q7';
      /** Ego history, oldest first, ending at t = 0 at the origin, each entry with ax, ay, vx, vy. */
      history: readonly Q7HistoryEntry[];
      /** The q7 prompt has one wording. */
      statusWording?: undefined;
    };

// ---- The runtime check, from the same table ----------------------------------------------------

const FIELD_MEANING: Readonly<Record<EgoStatusField, string>> = {
  ax: 'longitudinal acceleration, m/s²',
  ay: 'lateral acceleration, m/s²',
  vx: 'longitudinal velocity, m/s',
  vy: 'lateral velocity, m/s',
  speed: 'speed, m/s',
  steering: 'steering angle, rad',
};

/** The requirement list of a prompt. */
export function historyRequirements(prompt: HistoryPrompt): readonly HistoryFieldRequirement[] {
  return prompt.format === 'q7' ? HISTORY_FIELDS.q7 : HISTORY_FIELDS.nuscenes[prompt.statusWording ?? 'speed'];
}

/** `nuscenes` / `nuscenes (statusWording 'velocity-x')` / `q7`: how messages name a prompt. */
export function describeHistoryPrompt(prompt: HistoryPrompt): string {
  if (prompt.format === 'q7') return "the q7 prompt (format 'q7')";
  const wording = prompt.statusWording ?? 'speed';
  return `the nuscenes prompt (format 'nuscenes', statusWording '${wording}'${wording === 'speed' ? ', the default' : ''})`;
}

function requirementText(requirement: HistoryFieldRequirement): string {
  return typeof requirement === 'string' ? requirement : requirement.join(' or ');
}

function satisfies(entry: EgoHistoryEntry, requirement: HistoryFieldRequirement): boolean {
  const alternatives: readonly EgoStatusField[] = typeof requirement === 'string' ? [requirement] : requirement;
  return alternatives.some((field) => entry[field] !== undefined);
}

/** 'nuscenes/speed', 'q7': one name per row of the table. */
function promptKey(prompt: HistoryPrompt): string {
  return prompt.format === 'q7' ? 'q7' : `nuscenes/${prompt.statusWording ?? 'speed'}`;
}

/** Every prompt (format and wording) in table order. */
function allPrompts(): HistoryPrompt[] {
  return [...NUSCENES_STATUS_WORDINGS.map((statusWording): HistoryPrompt => ({ format: 'nuscenes', statusWording })), { format: 'q7' }];
}

/** How to plan with this history anyway: the other prompts whose fields every entry carries. */
function alternativesFor(prompt: HistoryPrompt, entries: readonly EgoHistoryEntry[]): string {
  const fits = allPrompts().filter(
    (p) => promptKey(p) !== promptKey(prompt) && historyRequirements(p).every((r) => entries.every((e) => satisfies(e, r))),
  );
  const parts: string[] = [];
  if (prompt.format === 'nuscenes') {
    for (const p of fits) {
      if (p.format !== 'nuscenes') continue;
      const fields = historyRequirements(p).map(requirementText);
      parts.push(`statusWording: '${p.statusWording}' (${fields.length ? `prints ${fields.join(', ')}` : 'positions only'}; CLI: --status-wording ${p.statusWording})`);
    }
    if (fits.some((p) => p.format === 'q7')) parts.push("format: 'q7' (CLI: --format q7), if the checkpoint was trained on the q7 prompt");
  } else {
    parts.push('the q7 prompt has no wording without it, so compute the missing values from the positions by finite differences, as the q7 data generators did');
    const wordings = fits.flatMap((p) => (p.format === 'nuscenes' ? [p.statusWording!] : []));
    const list = wordings.length > 1 ? `${wordings.slice(0, -1).map((w) => `'${w}'`).join(', ')} or '${wordings.at(-1)}'` : `'${wordings[0]}'`;
    const flag = wordings.length > 1 ? 'WORDING' : wordings[0];
    parts.push(`format: 'nuscenes' with statusWording ${list} (CLI: --format nuscenes --status-wording ${flag}), if the checkpoint was trained on the nuScenes prompt`);
  }
  return parts.join('; or ');
}

/**
 * Checks an ego history against the prompt it is for: the general rules of {@link validateEgoHistory},
 * then every field {@link HISTORY_FIELDS} lists for that prompt on every entry. A missing field's
 * ERR_INVALID_ARGUMENT names the prompt (format and wording), the field, the entry, and how to plan
 * without it (a wording or format whose fields the history has). Returns the history typed for the prompt.
 */
export function validatePlanHistory<P extends HistoryPrompt>(prompt: P, value: unknown, name = 'history'): HistoryEntryFor<P>[] {
  // Plain JavaScript callers reach here too: check the prompt itself before trusting its fields.
  if (!isObject(prompt)) throw invalidArgument('prompt', "{ format: 'nuscenes' | 'q7', statusWording? }", prompt);
  const format: unknown = prompt.format;
  if (format !== 'nuscenes' && format !== 'q7') throw invalidArgument('format', "one of 'nuscenes', 'q7'", format);
  if (prompt.format === 'nuscenes' && prompt.statusWording !== undefined && !NUSCENES_STATUS_WORDINGS.includes(prompt.statusWording)) {
    throw invalidArgument('statusWording', `one of ${NUSCENES_STATUS_WORDINGS.map((w) => `'${w}'`).join(', ')}`, prompt.statusWording);
  }
  if (prompt.format === 'q7' && (prompt as { statusWording?: unknown }).statusWording !== undefined) {
    throw invalidArgument('statusWording', "absent for format 'q7' (the q7 prompt has one wording)", (prompt as { statusWording?: unknown }).statusWording);
  }
  const entries = validateEgoHistory(value, { name });
  for (const requirement of historyRequirements(prompt)) {
    const lacking = entries.flatMap((entry, i) => (satisfies(entry, requirement) ? [] : [i]));
    if (lacking.length === 0) continue;
    const first = lacking[0]!;
    const fields = typeof requirement === 'string' ? [requirement] : requirement;
    const what =
      fields.length === 1
        ? `no '${fields[0]}' (${FIELD_MEANING[fields[0]!]})`
        : `neither ${fields.map((f) => `'${f}'`).join(' nor ')} (${FIELD_MEANING[fields[0]!]}; one of them is needed)`;
    const others = lacking.length === entries.length && entries.length > 1 ? ' (nor does any other entry)' : lacking.length > 1 ? ` (nor do ${lacking.length - 1} more of the ${entries.length} entries)` : '';
    const printed = historyRequirements(prompt).map(requirementText).join(', ');
    throw new TrtVlaError(
      'ERR_INVALID_ARGUMENT',
      `${name}[${first}] (t = ${entries[first]!.t}) has ${what}${others}, which ${describeHistoryPrompt(prompt)} prints for every entry ` +
        `(it prints ${printed}). To plan without it: ${alternativesFor(prompt, entries)}`,
    );
  }
  return entries as HistoryEntryFor<P>[];
}

/**
 * {@link validatePlanHistory} for a format and wording chosen at run time (a CLI flag, a manifest
 * field): returns the {@link PlanHistory} part of a plan request, typed so that it spreads into one.
 */
export function planHistory(format: PlanningFormat, statusWording: NuScenesStatusWording | undefined, value: unknown, name = 'history'): PlanHistory {
  if (format === 'q7') {
    if (statusWording !== undefined) throw invalidArgument('statusWording', "absent for format 'q7' (the q7 prompt has one wording)", statusWording);
    return { format, history: validatePlanHistory({ format }, value, name) };
  }
  const wording = statusWording ?? 'speed';
  // One object per wording would be a switch over the table; the check above is what makes this one correct.
  return { format, statusWording: wording, history: validatePlanHistory({ format, statusWording: wording }, value, name) } as PlanHistory;
}
