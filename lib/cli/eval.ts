/** `trt-vla eval --pred FILE --gt FILE [--format nuscenes|q7] [--json]`: open-loop L2 and collision rates. */
import { readFile } from 'node:fs/promises';

import { TrtVlaError } from '../errors.js';
import { evaluateOpenLoop, type HorizonMetric, type OpenLoopReport } from '../metrics/openLoop.js';
import { sortRecords, type JoinedRecords, type LocatedValue, type SortedRecords } from '../metrics/records.js';
import { PLANNING_FORMATS, type PlanningFormat } from '../prompt/formats.js';
import { choiceFlag, inputFileFlag, parseFlags, UsageError } from './args.js';

const USAGE = 'Usage: trt-vla eval --pred FILE --gt FILE [--format nuscenes|q7] [--json]';

const HELP = `${USAGE}

Scores predicted trajectories against ground truth the way the Impromptu paper's nuScenes table
does: per-step L2 and, when the ground truth has object boxes, the collision rate of a
4.084 x 1.85 m ego box (0.5 m forward offset); horizons 1s/2s/3s are means over the first
2/4/6 steps, Avg the mean of the three (4s/5s added for 10-step q7). Samples whose ground-truth
mask is incomplete are skipped.

Files are JSON Lines, matched by id (x forward, y left, metres; first point 0.5 s ahead):
  --pred  {"id": "...", "waypoints": [[x, y], ...]}  or  {"id": "...", "text": "<PLANNING>..."}
  --gt    {"id": "...", "waypoints": [[x, y], ...], "mask": [1, ...], "boxes": [[{"x", "y",
          "length", "width", "yaw"}, ...] per step]}      (mask and boxes optional)

Options:
  --format  answer format for "text" predictions (default: nuscenes for 6 steps, q7 for 10)
  --json    print the full report as JSON

Every record that cannot be scored is named with its file:line and why (malformed, duplicate id,
no matching id in the other file, a waypoint count that differs from the ground truth's); the
others are scored, and the exit code is 3. Predictions with fewer points than the ground truth
are padded with their last point (the reference's convention) and counted.`;

async function readRecords(path: string): Promise<LocatedValue[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  // A line that is not JSON at all is a record left out too, named like the others.
  return text.split(/\r?\n/).flatMap((raw, i): LocatedValue[] => {
    if (raw.trim() === '') return [];
    const where = `${path}:${i + 1}`;
    try {
      return [{ where, value: JSON.parse(raw) as unknown }];
    } catch (err) {
      return [{ where, jsonError: (err as Error).message }];
    }
  });
}

const fixed = (value: number, digits: number): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** One table row: the whole-second horizons, then Avg. */
function horizonRow(label: string, metric: HorizonMetric, scale: number, digits: number): string {
  const cells = [...Object.values(metric.horizons), metric.average].map((v) => fixed(v * scale, digits).padStart(9));
  return label.padEnd(16) + cells.join('');
}

/** The human-readable report: a summary line, the horizon table, then the per-step values. */
export function formatEvalReport(
  report: OpenLoopReport,
  joined?: Pick<JoinedRecords, 'textPredictions' | 'textWithDiagnostics'> & Partial<Pick<SortedRecords, 'unscored'>>,
): string {
  const s = report.samples;
  const lines = [
    `open-loop evaluation: ${s.evaluated} of ${s.total} samples scored` +
      (s.skippedIncompleteGroundTruth ? `, ${s.skippedIncompleteGroundTruth} skipped (incomplete ground truth)` : '') +
      (s.paddedPredictions ? `, ${s.paddedPredictions} predictions padded (fewer than ${report.steps} points)` : ''),
  ];
  if (joined?.textPredictions) {
    lines.push(`text answers: ${joined.textPredictions} parsed, ${joined.textWithDiagnostics} deviating from the exact format`);
  }
  if (joined?.unscored?.length) {
    lines.push(`${joined.unscored.length} records not scored:`);
    for (const u of joined.unscored) lines.push(`  ${u.where}${u.id === undefined ? '' : ` (id ${JSON.stringify(u.id)})`}: ${u.reason}`);
  }
  lines.push('');
  const horizonNames = Object.keys(report.l2.horizons);
  lines.push(`${'metric'.padEnd(16)}${[...horizonNames, 'Avg'].map((h) => h.padStart(9)).join('')}`);
  lines.push(horizonRow('L2 (m)', report.l2, 1, 4));
  if (report.collision) lines.push(horizonRow('collision (%)', report.collision, 100, 3));
  else lines.push('collision       n/a (no ground-truth boxes)');
  lines.push('');
  const stepNames = report.l2.perStep.map((_, i) => `${((i + 1) * report.stepSeconds).toFixed(1)}s`);
  lines.push(`${'per step'.padEnd(16)}${stepNames.map((h) => h.padStart(9)).join('')}`);
  lines.push(`${'L2 (m)'.padEnd(16)}${report.l2.perStep.map((v) => fixed(v, 4).padStart(9)).join('')}`);
  if (report.collision) lines.push(`${'collision (%)'.padEnd(16)}${report.collision.perStep.map((v) => fixed(v * 100, 3).padStart(9)).join('')}`);
  return lines.join('\n');
}

export const evalCommand = {
  summary: 'open-loop L2 / collision metrics of predictions against ground truth',
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const values = parseFlags(argv, {
      pred: { type: 'string' },
      gt: { type: 'string' },
      format: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values.pred || !values.gt) throw new UsageError('--pred and --gt are required (JSON Lines files)');
    inputFileFlag(values.pred, '--pred');
    inputFileFlag(values.gt, '--gt');
    const format = values.format === undefined ? undefined : choiceFlag(values.format, '--format', Object.keys(PLANNING_FORMATS) as PlanningFormat[]);
    const [predictions, truths] = await Promise.all([readRecords(values.pred), readRecords(values.gt)]);
    const joined = sortRecords(predictions, truths, { ...(format && { format }) });
    const report = evaluateOpenLoop(joined.samples);
    if (values.json) {
      const { samples: _samples, unscored, ...counts } = joined;
      console.log(JSON.stringify({ ...report, records: counts, unscored }, null, 2));
    } else {
      console.log(formatEvalReport(report, joined));
    }
    return joined.unscored.length > 0 ? 3 : 0;
  },
};
