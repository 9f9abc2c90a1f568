/**
 * The speculation replay benchmark behind `npm run bench:speculation`: for each record (ego history,
 * answer text) it counts the engine calls of the plain, jump-forward and jump-forward + kinematic
 * drafts decode loops (lib/action/decodeReplay.ts) for a model that writes exactly that answer, and
 * models the plan's decode time on an AGX Orin from the call counts. Pure TypeScript: no engine runs.
 */
import { TrtVlaError } from '../errors.js';
import { replayDecode, type DecodeLoop, type DecodeReplayStats } from '../action/decodeReplay.js';
import { compileAnswerGrammar, type GrammarTokenizer } from '../action/grammarCompiler.js';
import { DEFAULT_MAX_DRAFT, WaypointDrafter } from '../action/waypointDrafter.js';
import type { PlanningFormat } from '../prompt/formats.js';
import type { DrivingRecord } from './drivingRecords.js';

export const DECODE_LOOPS: readonly DecodeLoop[] = ['plain', 'jump-forward', 'draft'];

export interface LatencyModel {
  /**
   * One engine call, ms: a decode pass of the 3B AWQ model reads all weights once, ~14 ms at the AGX
   * Orin's memory bandwidth (issue 16); a call of a few rows still reads them once.
   */
  readonly callMs: number;
  /** Each row beyond the first in one call (attention, LM-head rows, per-row sampling), ms. */
  readonly extraRowMs: number;
}

export const DEFAULT_LATENCY_MODEL: LatencyModel = { callMs: 14, extraRowMs: 0.5 };

export interface SpeculationBenchOptions {
  maxDraft?: number;
  latency?: LatencyModel;
}

export interface LoopSummary {
  readonly calls: number;
  readonly rows: number;
  readonly callsPerToken: number;
  /** Modelled decode time per plan, ms (mean over records). */
  readonly planMs: number;
}

export interface FormatSummary {
  readonly format: PlanningFormat;
  readonly records: number;
  readonly tokens: number;
  readonly loops: Readonly<Record<DecodeLoop, LoopSummary>>;
  readonly drafted: number;
  readonly accepted: number;
  /** Per draft position: [reached, accepted]. */
  readonly positions: readonly (readonly [number, number])[];
}

export interface SpeculationReport {
  readonly maxDraft: number;
  readonly latency: LatencyModel;
  readonly formats: readonly FormatSummary[];
}

/** Canonical answer ids plus the end-of-turn token: what a model that follows its training writes. */
export function answerIds(tokenizer: GrammarTokenizer, answer: string): number[] {
  return [...tokenizer.encode(answer), tokenizer.specialIds.imEnd];
}

export function runSpeculationReplay(
  tokenizer: GrammarTokenizer,
  records: readonly DrivingRecord[],
  options: SpeculationBenchOptions = {},
): SpeculationReport {
  const maxDraft = options.maxDraft ?? DEFAULT_MAX_DRAFT;
  const latency = options.latency ?? DEFAULT_LATENCY_MODEL;
  const formats: FormatSummary[] = [];
  for (const format of ['nuscenes', 'q7'] as const) {
    const subset = records.filter((r) => r.format === format);
    if (subset.length === 0) continue;
    const grammar = compileAnswerGrammar(tokenizer, { format });
    const totals = Object.fromEntries(DECODE_LOOPS.map((l) => [l, { calls: 0, rows: 0, ms: 0 }])) as Record<DecodeLoop, { calls: number; rows: number; ms: number }>;
    let tokens = 0;
    let drafted = 0;
    let accepted = 0;
    const positions: [number, number][] = [];
    for (const [index, rec] of subset.entries()) {
      const ids = answerIds(tokenizer, rec.answer);
      tokens += ids.length;
      const drafter = new WaypointDrafter(tokenizer, grammar, { format, history: rec.history, maxDraft });
      for (const loop of DECODE_LOOPS) {
        let s: DecodeReplayStats;
        try {
          s = replayDecode(grammar, ids, loop, (committed, state) => drafter.draft(committed, state));
        } catch (err) {
          const code = err instanceof TrtVlaError ? err.code : 'ERR_INTERNAL';
          throw new TrtVlaError(code, `${format} record ${index + 1} (${loop}): ${(err as Error).message}`, { cause: err });
        }
        const t = totals[loop];
        t.calls += s.calls;
        t.rows += s.rows;
        t.ms += s.calls * latency.callMs + (s.rows - s.calls) * latency.extraRowMs;
        if (loop === 'draft') {
          drafted += s.drafted;
          accepted += s.accepted;
          s.reachedAt.forEach((n, j) => {
            positions[j] ??= [0, 0];
            positions[j]![0] += n;
            positions[j]![1] += s.acceptedAt[j] ?? 0;
          });
        }
      }
    }
    const loops = Object.fromEntries(
      DECODE_LOOPS.map((l) => [l, { calls: totals[l].calls, rows: totals[l].rows, callsPerToken: totals[l].calls / tokens, planMs: totals[l].ms / subset.length }]),
    ) as Record<DecodeLoop, LoopSummary>;
    formats.push({ format, records: subset.length, tokens, loops, drafted, accepted, positions });
  }
  return { maxDraft, latency, formats };
}

const pct = (num: number, den: number): string => (den === 0 ? '   -  ' : `${((100 * num) / den).toFixed(1).padStart(5)}%`);

export function formatSpeculationReport(report: SpeculationReport): string {
  const lines: string[] = [];
  const { callMs, extraRowMs } = report.latency;
  lines.push(`speculation replay: calls after the prompt prefill for a model that writes exactly each record's answer`);
  lines.push(`drafts: kinematic drafter, at most ${report.maxDraft} tokens per verify call`);
  lines.push(
    `modelled AGX Orin decode time (assumption, not a measurement): ${callMs} ms per engine call (one weight pass of the 3B AWQ model) + ${extraRowMs} ms per extra row in a multi-row call; prefill not included`,
  );
  for (const f of report.formats) {
    lines.push('');
    lines.push(`${f.format}: ${f.records} records, ${f.tokens} answer tokens (${(f.tokens / f.records).toFixed(1)} per plan)`);
    lines.push(`  loop            calls/token   calls/plan   rows/call   decode ms/plan`);
    for (const loop of DECODE_LOOPS) {
      const l = f.loops[loop];
      const name = loop === 'draft' ? 'jump-fwd+draft' : loop;
      lines.push(
        `  ${name.padEnd(15)} ${l.callsPerToken.toFixed(3).padStart(11)}   ${(l.calls / f.records).toFixed(1).padStart(10)}   ${(l.rows / l.calls).toFixed(2).padStart(9)}   ${l.planMs.toFixed(1).padStart(14)}`,
      );
    }
    lines.push(`  drafted ${f.drafted} tokens, accepted ${f.accepted} (${pct(f.accepted, f.drafted).trim()})`);
    lines.push(`  acceptance per draft position (given all earlier ones accepted): ${f.positions.map(([n, a], j) => `#${j + 1} ${pct(a, n).trim()} of ${n}`).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
