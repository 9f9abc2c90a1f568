/**
 * The ego-history fields each prompt prints (HISTORY_FIELDS) as the runtime enforces them and as the
 * types express them. Runtime: per format and wording, every required field missing from one entry is
 * refused with a message naming the prompt, the field and a way to plan without it, and that way is
 * checked to work; a field the row does not name may be missing. Types: the same two directions,
 * checked by `npm run typecheck` (tsc over test/): the `@ts-expect-error` lines fail it when a type
 * stops rejecting, and the `expectTypeOf` lines when the derived types stop agreeing with the table.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';

import { isTrtVlaError } from '../../lib/errors.js';
import type { FrameBuffer } from '../../lib/frame.js';
import type { PlanRequest } from '../../lib/model/types.js';
import type { EgoHistoryEntry, EgoStatusField } from '../../lib/prompt/egoHistory.js';
import {
  HISTORY_FIELDS,
  planHistory,
  validatePlanHistory,
  type EntryWithFields,
  type HistoryFieldRequirement,
  type HistoryPrompt,
  type NuScenesHistoryEntry,
  type Q7HistoryEntry,
} from '../../lib/prompt/historyFields.js';
import { buildNuScenesPrompt, NUSCENES_STATUS_WORDINGS } from '../../lib/prompt/nuscenesPrompt.js';
import { buildPlanningPrompt } from '../../lib/prompt/planningPrompt.js';
import { buildQ7Prompt } from '../../lib/prompt/q7Prompt.js';

const STATUS_FIELDS: readonly EgoStatusField[] = ['ax', 'ay', 'vx', 'vy', 'speed', 'steering'];

/** Three entries carrying every field. */
const FULL = [
  { t: -1, x: -4, y: 0.1, ax: 0.2, ay: 0, vx: 4, vy: 0.1, speed: 4, steering: 0.3 },
  { t: -0.5, x: -2, y: 0.05, ax: 0.2, ay: 0, vx: 4, vy: 0.1, speed: 4, steering: 0.3 },
  { t: 0, x: 0, y: 0, ax: 0.2, ay: 0, vx: 4, vy: 0.1, speed: 4, steering: 0.3 },
] satisfies Required<EgoHistoryEntry>[];

/** FULL with `fields` removed from entry `index` (every entry when index is undefined). */
function without(fields: readonly EgoStatusField[], index?: number): EgoHistoryEntry[] {
  return FULL.map((entry, i) => {
    if (index !== undefined && i !== index) return entry;
    const copy: Record<string, number> = { ...entry };
    for (const f of fields) delete copy[f];
    return copy as unknown as EgoHistoryEntry;
  });
}

/** Every row of the table: a prompt and its requirement list. */
const ROWS: { prompt: HistoryPrompt; name: string; requirements: readonly HistoryFieldRequirement[] }[] = [
  ...NUSCENES_STATUS_WORDINGS.map((w) => ({ prompt: { format: 'nuscenes', statusWording: w } as HistoryPrompt, name: `nuscenes/${w}`, requirements: HISTORY_FIELDS.nuscenes[w] })),
  { prompt: { format: 'q7' }, name: 'q7', requirements: HISTORY_FIELDS.q7 },
];

function refusal(prompt: HistoryPrompt, history: unknown): Error {
  try {
    validatePlanHistory(prompt, history);
  } catch (err) {
    expect(isTrtVlaError(err, 'ERR_INVALID_ARGUMENT'), String(err)).toBe(true);
    return err as Error;
  }
  throw new Error(`${JSON.stringify(prompt)} accepted ${JSON.stringify(history)}`);
}

/** The prompts a refusal message offers (statusWording: '…' / format: '…' with statusWording …). */
function offeredPrompts(message: string, prompt: HistoryPrompt): HistoryPrompt[] {
  const advice = message.slice(message.indexOf('To plan without it: '));
  const offered: HistoryPrompt[] = [];
  if (prompt.format === 'nuscenes') {
    for (const [, w] of advice.matchAll(/statusWording: '([\w-]+)'/g)) offered.push({ format: 'nuscenes', statusWording: w as never });
    if (/format: 'q7'/.test(advice)) offered.push({ format: 'q7' });
  } else {
    const list = /format: 'nuscenes' with statusWording ([^(]+)\(/.exec(advice)?.[1] ?? '';
    for (const [, w] of list.matchAll(/'([\w-]+)'/g)) offered.push({ format: 'nuscenes', statusWording: w as never });
  }
  return offered;
}

describe('HISTORY_FIELDS at run time', () => {
  it('lists what the prompts print (impromptu-vla.md §2.1, §2.2)', () => {
    expect(HISTORY_FIELDS).toEqual({
      nuscenes: { speed: ['ax', 'ay', ['speed', 'vx'], 'steering'], 'velocity-x': ['ax', 'ay', 'vx', 'steering'], none: [] },
      q7: ['ax', 'ay', 'vx', 'vy'],
    });
  });

  for (const { prompt, name, requirements } of ROWS) {
    it(`${name}: takes a history with every field`, () => {
      expect(validatePlanHistory(prompt, FULL)).toHaveLength(3);
    });

    for (const requirement of requirements) {
      const fields = typeof requirement === 'string' ? [requirement] : [...requirement];
      it(`${name}: refuses a history without ${fields.join(' and ')}, naming the prompt, the field and what works instead`, () => {
        const message = refusal(prompt, without(fields, 1)).message;
        expect(message).toMatch(/^history\[1\] \(t = -0\.5\) has (no|neither) /);
        for (const f of fields) expect(message).toContain(`'${f}'`);
        expect(message).toContain(prompt.format === 'q7' ? "the q7 prompt (format 'q7')" : `statusWording '${(prompt as { statusWording: string }).statusWording}'`);
        expect(message).toContain('To plan without it: ');
        // Every way the message offers takes this very history.
        const offered = offeredPrompts(message, prompt);
        expect(offered.length, message).toBeGreaterThan(0);
        for (const p of offered) expect(() => validatePlanHistory(p, without(fields, 1)), JSON.stringify(p)).not.toThrow();
        // The prompt builders refuse it with the same message.
        const build = () =>
          prompt.format === 'q7'
            ? buildQ7Prompt({ history: without(fields, 1) as Q7HistoryEntry[] })
            : buildNuScenesPrompt({ history: without(fields, 1), statusWording: prompt.statusWording } as never);
        expect(build).toThrow(message.replace(/^history/, 'options.history'));
      });

      if (fields.length > 1) {
        it(`${name}: takes any one of ${fields.join(', ')}`, () => {
          for (const kept of fields) expect(() => validatePlanHistory(prompt, without(fields.filter((f) => f !== kept)))).not.toThrow();
        });
      }
    }

    const named = new Set(requirements.flatMap((r) => (typeof r === 'string' ? [r] : [...r])));
    const unnamed = STATUS_FIELDS.filter((f) => !named.has(f));
    it(`${name}: does not require ${unnamed.join(', ')}`, () => {
      expect(() => validatePlanHistory(prompt, without(unnamed))).not.toThrow();
    });
  }

  it('says when every entry lacks the field, and how many do otherwise', () => {
    expect(refusal({ format: 'q7' }, without(['vy'])).message).toContain("history[0] (t = -1) has no 'vy' (lateral velocity, m/s) (nor does any other entry)");
    const two = [...without(['vy'], 0).slice(0, 1), ...without(['vy']).slice(1, 2), FULL[2]];
    expect(refusal({ format: 'q7' }, two).message).toContain('(nor do 1 more of the 3 entries)');
  });

  it('checks the prompt itself: format and wording', () => {
    expect(() => validatePlanHistory({ format: 'q9' } as never, FULL)).toThrow(/Expected one of 'nuscenes', 'q7' for format/);
    expect(() => validatePlanHistory({ format: 'nuscenes', statusWording: 'loud' } as never, FULL)).toThrow(/for statusWording/);
    expect(() => validatePlanHistory({ format: 'q7', statusWording: 'none' } as never, FULL)).toThrow(/absent for format 'q7'/);
    // What model.plan builds its prompt with: the same checks for plain JavaScript requests.
    expect(() => buildPlanningPrompt({ format: 'q7', statusWording: 'none', history: FULL } as never)).toThrow(/absent for format 'q7'/);
    expect(() => buildPlanningPrompt({ history: without(['steering']) } as never)).toThrow(/has no 'steering'/);
    expect(buildPlanningPrompt({ statusWording: 'none', history: without(STATUS_FIELDS) }).format.name).toBe('nuscenes');
    expect(buildPlanningPrompt({ format: 'q7', history: FULL, views: 1 }).imageCount).toBe(1);
  });

  it('planHistory returns the request part for a format chosen at run time', () => {
    expect(planHistory('nuscenes', undefined, FULL)).toMatchObject({ format: 'nuscenes', statusWording: 'speed', history: FULL });
    expect(planHistory('q7', undefined, FULL)).toEqual({ format: 'q7', history: FULL });
    expect(planHistory('nuscenes', 'none', without(STATUS_FIELDS))).toMatchObject({ statusWording: 'none' });
    expect(() => planHistory('q7', 'none', FULL)).toThrow(/absent for format 'q7'/);
  });
});

// ---- Types --------------------------------------------------------------------------------------

type Full = Required<EgoHistoryEntry>;
type FieldsOf<R> = R extends readonly (infer F)[] ? F : R;
type Named<Rs extends readonly HistoryFieldRequirement[]> = FieldsOf<Rs[number]>;

/**
 * true when entry type T requires exactly what the row Rs lists: an entry without any one requirement
 * (all its alternatives) is rejected, and one without any field the row does not name is accepted.
 */
type AgreesWith<T, Rs extends readonly HistoryFieldRequirement[]> = [
  { [I in keyof Rs]: Omit<Full, FieldsOf<Rs[I]>> extends T ? false : true }[number],
  { [F in Exclude<EgoStatusField, Named<Rs>>]: Omit<Full, F> extends T ? true : false }[Exclude<EgoStatusField, Named<Rs>>],
] extends [true, true | never]
  ? true
  : false;

describe('HISTORY_FIELDS in the types', () => {
  it('the entry types require exactly the fields of their row', () => {
    expectTypeOf<AgreesWith<NuScenesHistoryEntry, typeof HISTORY_FIELDS.nuscenes.speed>>().toEqualTypeOf<true>();
    expectTypeOf<AgreesWith<NuScenesHistoryEntry<'velocity-x'>, typeof HISTORY_FIELDS.nuscenes['velocity-x']>>().toEqualTypeOf<true>();
    expectTypeOf<AgreesWith<NuScenesHistoryEntry<'none'>, typeof HISTORY_FIELDS.nuscenes.none>>().toEqualTypeOf<true>();
    expectTypeOf<AgreesWith<Q7HistoryEntry, typeof HISTORY_FIELDS.q7>>().toEqualTypeOf<true>();
    // 'speed' or 'vx': either alone will do.
    expectTypeOf<Omit<Full, 'speed'>>().toExtend<NuScenesHistoryEntry>();
    expectTypeOf<Omit<Full, 'vx'>>().toExtend<NuScenesHistoryEntry>();
    // The check itself can fail: a type that forgets a field does not agree.
    expectTypeOf<AgreesWith<EntryWithFields<['ax', 'ay', 'vx']>, typeof HISTORY_FIELDS.q7>>().toEqualTypeOf<false>();
    expectTypeOf<AgreesWith<Q7HistoryEntry, typeof HISTORY_FIELDS.nuscenes.none>>().toEqualTypeOf<false>();
  });

  it('plan requests, prompt options and validatePlanHistory follow the format and wording', () => {
    const images: FrameBuffer[] = [];
    const noVy = without(['vy']).map(({ t, x, y, ax, ay, vx, speed, steering }) => ({ t, x, y, ax: ax!, ay: ay!, vx: vx!, speed: speed!, steering: steering! }));
    const positionsOnly = FULL.map(({ t, x, y }) => ({ t, x, y }));
    // Accepted: each prompt with the fields it prints.
    expectTypeOf({ images, history: FULL }).toExtend<PlanRequest>();
    expectTypeOf({ images, history: noVy }).toExtend<PlanRequest>();
    expectTypeOf({ images, format: 'q7' as const, history: FULL }).toExtend<PlanRequest>();
    expectTypeOf({ images, statusWording: 'none' as const, history: positionsOnly }).toExtend<PlanRequest>();
    // Refused: q7 without vy, the default nuscenes wording with positions only, a wording for q7.
    expectTypeOf({ images, format: 'q7' as const, history: noVy }).not.toExtend<PlanRequest>();
    expectTypeOf({ images, history: positionsOnly }).not.toExtend<PlanRequest>();
    expectTypeOf({ images, format: 'q7' as const, statusWording: 'none' as const, history: FULL }).not.toExtend<PlanRequest>();

    const request = (r: PlanRequest) => r;
    // @ts-expect-error the q7 prompt prints vy
    request({ images, format: 'q7', history: noVy });
    // @ts-expect-error the default wording prints ax, ay, speed or vx, steering
    request({ images, history: positionsOnly });
    request({ images, statusWording: 'none', history: positionsOnly });
    // @ts-expect-error the q7 prompt prints vy
    void (() => buildQ7Prompt({ history: noVy }));
    // @ts-expect-error 'velocity-x' prints vx
    void (() => buildNuScenesPrompt({ statusWording: 'velocity-x', history: FULL.map(({ vx: _vx, ...rest }) => rest) }));

    // (Not called: the types of what these would return.)
    expectTypeOf(() => validatePlanHistory({ format: 'q7' }, [])).returns.toEqualTypeOf<Q7HistoryEntry[]>();
    expectTypeOf(() => validatePlanHistory({ format: 'nuscenes', statusWording: 'none' }, [])).returns.toEqualTypeOf<NuScenesHistoryEntry<'none'>[]>();
    expectTypeOf(() => validatePlanHistory({ format: 'nuscenes' }, [])).returns.toEqualTypeOf<NuScenesHistoryEntry[]>();
  });
});
