import { describe, expect, it } from 'vitest';

import { parsePlanning } from '../../lib/action/parsePlanning.js';
import type { PlanningDiagnosticCode, PlanningParseResult } from '../../lib/action/planningTypes.js';
import { formatPlanningBlock, PLANNING_FORMATS } from '../../lib/prompt/formats.js';

const NUS = PLANNING_FORMATS.nuscenes;
const Q7 = PLANNING_FORMATS.q7;
const NUS_BODY = NUS.preamble.slice('<PLANNING>'.length);
/** Impromptu-vla.md A7 (a). */
const NUS_POINTS = '[2.15, 0.0], [3.8, 0.09], [5.86, 0.27], [7.93, 0.66], [9.92, 1.28], [11.77, 2.17]';
const NUS_EXACT = `${NUS.preamble}${NUS_POINTS}</PLANNING>`;
const NUS_XY = [[2.15, 0], [3.8, 0.09], [5.86, 0.27], [7.93, 0.66], [9.92, 1.28], [11.77, 2.17]];

const codes = (r: PlanningParseResult): PlanningDiagnosticCode[] => r.diagnostics.map((d) => d.code);
const xy = (r: PlanningParseResult): number[][] => r.waypoints.map((w) => [w.x, w.y]);
/** The text each diagnostic points at, to check offsets. */
const spans = (text: string, r: PlanningParseResult): string[] => r.diagnostics.map((d) => text.slice(d.offset, d.offset + d.length));

describe('parsePlanning on exact answers', () => {
  it('reads the nuScenes answer: 6 points at 0.5 s steps, no diagnostics', () => {
    const r = parsePlanning(NUS_EXACT);
    expect(r.complete).toBe(true);
    expect(r.diagnostics).toEqual([]);
    expect(r.waypoints).toEqual(NUS_XY.map(([x, y], i) => ({ t: 0.5 * (i + 1), x, y })));
    expect(r.reasoning).toEqual({});
  });

  it('reads the q7 answer with 10 points and :.2f numbers, -0.00 included', () => {
    const text =
      `${Q7.preamble}[-0.00, 0.00], [3.32, -0.10], [6.58, -0.27], [9.80, -0.50], [13.05, -0.92], [16.31, -1.33], ` +
      '[19.64, -1.76], [23.09, -2.19], [26.70, -2.69], [30.33, -3.24]</PLANNING>';
    const r = parsePlanning(text, { format: 'q7' });
    expect(r.diagnostics).toEqual([]);
    expect(r.complete).toBe(true);
    expect(r.waypoints).toHaveLength(10);
    expect(r.waypoints[0]).toEqual({ t: 0.5, x: 0, y: 0 });
    expect(Object.is(r.waypoints[0]!.x, -0)).toBe(false);
    expect(r.waypoints[9]).toEqual({ t: 5, x: 30.33, y: -3.24 });
  });

  it('round-trips formatPlanningBlock for both formats', () => {
    const points = Array.from({ length: 10 }, (_, i) => ({ x: 1.37 * (i + 1), y: -0.004 * i * i }));
    for (const spec of [NUS, Q7]) {
      const text = formatPlanningBlock(points.slice(0, spec.waypoints), spec);
      const r = parsePlanning(text, { format: spec.name });
      expect(r.diagnostics, spec.name).toEqual([]);
      expect(r.waypoints.map((w) => w.t)).toEqual(points.slice(0, spec.waypoints).map((_, i) => 0.5 * (i + 1)));
    }
  });
});

describe('parsePlanning tolerance, with a diagnostic for each deviation', () => {
  it('takes waypoints without any tags and says the tags are missing', () => {
    const text = NUS_BODY + NUS_POINTS;
    const r = parsePlanning(text);
    expect(xy(r)).toEqual(NUS_XY);
    expect(r.complete).toBe(true);
    expect(codes(r)).toEqual(['missing-open-tag', 'missing-close-tag']);
  });

  it('accepts a missing closing tag', () => {
    const text = NUS.preamble + NUS_POINTS;
    const r = parsePlanning(text);
    expect(r.complete).toBe(true);
    expect(r.diagnostics).toEqual([
      { code: 'missing-close-tag', message: 'the text ends without </PLANNING>', offset: text.length, length: 0 },
    ]);
  });

  it('skips the [x, y] header of a wrong preamble, flags the preamble once', () => {
    const text = '<PLANNING>The output is formatted as [x, y]: [1.0, 2.0], [3.0, 4.0]</PLANNING>';
    const r = parsePlanning(text, { waypoints: 2 });
    expect(xy(r)).toEqual([[1, 2], [3, 4]]);
    expect(codes(r)).toEqual(['preamble-mismatch']);
    expect(spans(text, r)).toEqual(['The output is formatted as [x, y]: ']);
  });

  it('accepts integers, 1–3 decimals, +signs and extra spaces, flagging each', () => {
    const text = `${NUS.preamble}[2, 0.0], [3.80, 0.09], [ 5.86 ,0.27], [7.931, +0.66], [9.92, -0.0], [11.77, 2.17]</PLANNING>`;
    const r = parsePlanning(text);
    expect(xy(r)).toEqual([[2, 0], [3.8, 0.09], [5.86, 0.27], [7.931, 0.66], [9.92, 0], [11.77, 2.17]]);
    expect(r.complete).toBe(true);
    expect(codes(r)).toEqual(['number-format', 'number-format', 'bracket-spacing', 'number-format', 'number-format', 'number-format']);
    expect(spans(text, r)).toEqual(['2', '3.80', '[ 5.86 ,0.27]', '7.931', '+0.66', '-0.0']);
    expect(r.diagnostics[0]!.message).toBe('expected 2.0 (round2) but found 2');
  });

  it('holds q7 answers to two decimals', () => {
    const points = Array.from({ length: 10 }, (_, i) => `[${i + 1}.5, 0.00]`).join(', ');
    const r = parsePlanning(`${Q7.preamble}${points}</PLANNING>`, { format: Q7 });
    expect(r.complete).toBe(true);
    expect(codes(r)).toEqual(Array(10).fill('number-format'));
    expect(r.diagnostics[0]!.message).toBe('expected 1.50 (fixed2) but found 1.5');
  });

  it('reports too few waypoints and a truncated one at the end of the text', () => {
    const text = `${NUS.preamble}[2.15, 0.0], [3.8, 0.09], [5.8`;
    const r = parsePlanning(text);
    expect(xy(r)).toEqual([[2.15, 0], [3.8, 0.09]]);
    expect(r.complete).toBe(false);
    expect(codes(r)).toEqual(['truncated-waypoint', 'missing-close-tag', 'too-few-waypoints']);
    expect(spans(text, r)[0]).toBe('[5.8');
    expect(r.diagnostics[2]!.message).toBe('found 2 of 6 waypoints');
  });

  it('takes the first N and flags the extra ones', () => {
    const text = `${NUS.preamble}${NUS_POINTS}, [13.5, 3.2]</PLANNING>`;
    const r = parsePlanning(text);
    expect(xy(r)).toEqual(NUS_XY);
    expect(codes(r)).toEqual(['extra-waypoint']);
    expect(spans(text, r)).toEqual(['[13.5, 3.2]']);
    const three = parsePlanning(NUS_EXACT, { waypoints: 3 });
    expect(three.complete).toBe(true);
    expect(xy(three)).toEqual(NUS_XY.slice(0, 3));
    expect(codes(three)).toEqual(['extra-waypoint', 'extra-waypoint', 'extra-waypoint']);
  });

  it('skips non-numeric brackets and nested openings, flagging the separator they break', () => {
    const text = `${NUS.preamble}[2.15, 0.0], [a, b], [[3.8, 0.09], [5.86, 0.27], [7.93, 0.66], [9.92, 1.28], [11.77, 2.17]</PLANNING>`;
    const r = parsePlanning(text);
    expect(xy(r)).toEqual(NUS_XY);
    expect(codes(r)).toEqual(['separator-mismatch']);
    expect(spans(text, r)).toEqual([', [a, b], [']);
    // Exponents, inf and nan are not coordinates the model was trained to write.
    expect(parsePlanning('[1e3, 2.0], [inf, 1.0]').waypoints).toEqual([]);
  });

  it('flags text after the closing tag and a second <PLANNING> without double-reporting', () => {
    const trailing = `${NUS_EXACT} Done.`;
    expect(codes(parsePlanning(trailing))).toEqual(['unexpected-text']);
    expect(spans(trailing, parsePlanning(trailing))).toEqual([' Done.']);
    const doubled = NUS_EXACT.replace('[3.8, 0.09]', '<PLANNING>[3.8, 0.09]');
    const r = parsePlanning(doubled);
    expect(xy(r)).toEqual(NUS_XY);
    expect(codes(r)).toEqual(['misplaced-tag']);
  });

  it('reports an empty or unrelated answer completely', () => {
    expect(codes(parsePlanning(''))).toEqual(['missing-open-tag', 'missing-close-tag', 'too-few-waypoints']);
    const r = parsePlanning('I cannot see the road.');
    expect(r.complete).toBe(false);
    expect(codes(r)).toEqual(['missing-open-tag', 'unexpected-text', 'missing-close-tag', 'too-few-waypoints']);
  });

  it('validates its options', () => {
    expect(() => parsePlanning(NUS_EXACT, { waypoints: 0 })).toThrow('Expected an integer between 1 and 100 for options.waypoints but received 0');
    expect(() => parsePlanning(NUS_EXACT, { format: 'navsim' as never })).toThrow("Expected one of 'nuscenes', 'q7' for options.format");
    expect(() => parsePlanning(42 as never)).toThrow('Expected a string for text but received 42 of type number');
  });
});

const SCENE = "<Scene Description>Let's start with the environment description: \nA wet road [1.0, 2.0] ahead.\n</Scene Description>";
const ROAD = '<Road Agent Analysis>\nA car at [12.0, -3.5] brakes.\n</Road Agent Analysis>\n';
const META = '<Meta Planning>\nSlow down; speed < 5 m/s.\n</Meta Planning>\n';

describe('parsePlanning in slow mode', () => {
  it('returns the reasoning sections and never takes their brackets as waypoints', () => {
    const r = parsePlanning(SCENE + ROAD + META + NUS_EXACT, { mode: 'slow' });
    expect(r.diagnostics).toEqual([]);
    expect(xy(r)).toEqual(NUS_XY);
    expect(r.reasoning).toEqual({
      sceneDescription: 'A wet road [1.0, 2.0] ahead.',
      roadAgentAnalysis: 'A car at [12.0, -3.5] brakes.',
      metaPlanning: 'Slow down; speed < 5 m/s.',
    });
  });

  it('flags missing, reordered and unclosed sections and a wrong lead-in', () => {
    expect(codes(parsePlanning(SCENE + META + NUS_EXACT, { mode: 'slow' }))).toEqual(['section-order', 'section-missing']);
    const unclosed = SCENE + ROAD + META.replace('\n</Meta Planning>\n', '\n') + NUS_EXACT;
    const r = parsePlanning(unclosed, { mode: 'slow' });
    expect(codes(r)).toEqual(['section-unclosed']);
    expect(r.reasoning.metaPlanning).toBe('Slow down; speed < 5 m/s.');
    expect(xy(r)).toEqual(NUS_XY);
    const noLeadIn = SCENE.replace("Let's start with the environment description: \n", '');
    expect(codes(parsePlanning(noLeadIn + ROAD + META + NUS_EXACT, { mode: 'slow' }))).toEqual(['section-format']);
    expect(codes(parsePlanning(ROAD.replace('</Road Agent Analysis>\n', '</Road Agent Analysis>'), { mode: 'slow' }))).toEqual([
      'section-order',
      'section-missing',
      'section-missing',
      'missing-open-tag',
      'unexpected-text', // the "\n" that should follow </Road Agent Analysis>
      'missing-close-tag',
      'too-few-waypoints',
    ]);
  });

  it('parses sections in fast mode too, but flags them', () => {
    const r = parsePlanning(SCENE + NUS_EXACT);
    expect(r.reasoning.sceneDescription).toBe('A wet road [1.0, 2.0] ahead.');
    expect(codes(r)).toEqual(['unexpected-section']);
    expect(xy(r)).toEqual(NUS_XY);
  });

  it('expects all sections in slow mode before tagless waypoints too', () => {
    const r = parsePlanning(NUS_BODY + NUS_POINTS, { mode: 'slow' });
    expect(codes(r)).toEqual(['section-missing', 'section-missing', 'section-missing', 'missing-open-tag', 'missing-close-tag']);
  });
});
