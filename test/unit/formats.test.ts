/**
 * Number formatting and the answer formats. Expected values were checked against CPython 3.11 and
 * NumPy 2.4 (`str(np.round(v, 2))`, `repr(round(v, 2))`, `f'{v:.2f}'`) and against the strings quoted
 * in shared docs impromptu-vla.md (§3, Appendix A7).
 */
import { describe, expect, it } from 'vitest';

import { TrtVlaError } from '../../lib/errors.js';
import {
  formatCoordinate,
  formatPlanningBlock,
  formatWaypoint,
  PLANNING_FORMATS,
  REASONING_SECTIONS,
} from '../../lib/prompt/formats.js';
import { numpyRound, pythonFixed, pythonFloatRepr, pythonRound } from '../../lib/prompt/pythonNumbers.js';

describe('Python number semantics', () => {
  it('repr() of floats: shortest digits, .0 on integers, exponent outside [1e-4, 1e16)', () => {
    const cases: [number, string][] = [
      [3.8, '3.8'],
      [12, '12.0'],
      [-0, '-0.0'],
      [0, '0.0'],
      [0.0001, '0.0001'],
      [1.5e-5, '1.5e-05'],
      [1e16, '1e+16'],
      [123456789012345678, '1.2345678901234568e+17'],
      [5e-324, '5e-324'],
      [9999999999999998, '9999999999999998.0'],
    ];
    for (const [value, expected] of cases) expect(pythonFloatRepr(value), String(value)).toBe(expected);
  });

  it('round(v, 2) rounds the exact binary value, np.round rounds v * 100 in floating point', () => {
    // 0.015 is stored as 0.01499999…, but 0.015 * 100 evaluates to exactly 1.5 (then ties to even).
    expect(pythonRound(0.015, 2)).toBe(0.01);
    expect(numpyRound(0.015, 2)).toBe(0.02);
    // 2.675 is stored as 2.67499999…; 2.675 * 100 evaluates to 267.5.
    expect(pythonRound(2.675, 2)).toBe(2.67);
    expect(numpyRound(2.675, 2)).toBe(2.68);
    expect(pythonRound(1.115, 2)).toBe(1.11);
    expect(numpyRound(1.115, 2)).toBe(1.12);
    // Exact binary ties go to even in both.
    expect([pythonRound(0.125, 2), numpyRound(0.125, 2)]).toEqual([0.12, 0.12]);
    expect([pythonRound(0.375, 2), numpyRound(0.375, 2)]).toEqual([0.38, 0.38]);
    // The sign of a rounded-away zero survives (str() then prints -0.0).
    expect(Object.is(pythonRound(-0.001, 2), -0)).toBe(true);
    expect(Object.is(numpyRound(-0.001, 2), -0)).toBe(true);
  });

  it("f'{v:.2f}' keeps -0.00 and breaks exact ties to even (JS toFixed does neither)", () => {
    expect((-0).toFixed(2)).toBe('0.00'); // the JS behaviour the old formatter inherited
    expect(pythonFixed(-0, 2)).toBe('-0.00');
    expect(pythonFixed(-0.001, 2)).toBe('-0.00');
    expect((0.125).toFixed(2)).toBe('0.13');
    expect(pythonFixed(0.125, 2)).toBe('0.12');
    expect(pythonFixed(-0.125, 2)).toBe('-0.12');
    expect(pythonFixed(0.015, 2)).toBe('0.01');
    expect(pythonFixed(2.675, 2)).toBe('2.67');
    expect(pythonFixed(1e21, 2)).toBe('1000000000000000000000.00');
    expect(pythonFixed(1.5, 1)).toBe('1.5');
  });

  it('does not mistake a rounded product for a tie (the old formatter printed -62.18 and 63.60)', () => {
    // Data pre-rounded to 3 decimals hits this often: -62.185 is stored as -62.18500000000000227…,
    // but -62.185 * 100 evaluates to exactly -6218.5, which a product-based tie check sends to even.
    expect(pythonFixed(-62.185, 2)).toBe('-62.19');
    expect(pythonFixed(63.595, 2)).toBe('63.59');
    expect(formatCoordinate(-62.185, 'fixed2')).toBe('-62.19');
  });
});

describe('formatCoordinate', () => {
  it("'round2' is the nuScenes pipeline: np.round(v, 2), str(), every zero printed 0.0", () => {
    const cases: [number, string][] = [
      [3.8, '3.8'],
      [3.80000001, '3.8'],
      [-12.53, '-12.53'],
      [11.77, '11.77'],
      [12, '12.0'],
      [-0.5, '-0.5'],
      [0, '0.0'],
      [-0, '0.0'],
      [-0.001, '0.0'],
      [0.015, '0.02'],
      [2.675, '2.68'],
      [0.125, '0.12'],
    ];
    for (const [value, expected] of cases) expect(formatCoordinate(value, 'round2'), String(value)).toBe(expected);
  });

  it("'fixed2' is the q7 generators' :.2f, so -0.00 appears", () => {
    const cases: [number, string][] = [
      [3.8, '3.80'],
      [-0.1, '-0.10'],
      [0, '0.00'],
      [-0, '-0.00'],
      [-0.004, '-0.00'],
      [0.015, '0.01'],
      [30.33, '30.33'],
    ];
    for (const [value, expected] of cases) expect(formatCoordinate(value, 'fixed2'), String(value)).toBe(expected);
  });

  it('rejects non-finite values with ERR_INVALID_ARGUMENT', () => {
    expect(() => formatCoordinate(Number.NaN, 'round2')).toThrow(TrtVlaError);
    expect(() => formatCoordinate(Infinity, 'fixed2')).toThrow(/Expected a finite number for coordinate but received Infinity/);
  });
});

describe('answer formats', () => {
  it('reproduces the nuScenes x-y answer of impromptu-vla.md A7 (a) byte for byte', () => {
    const points = [
      [2.15, 0],
      [3.8, 0.09],
      [5.86, 0.27],
      [7.93, 0.66],
      [9.92, 1.28],
      [11.77, 2.17],
    ].map(([x, y]) => ({ x: x!, y: y! }));
    expect(formatPlanningBlock(points, PLANNING_FORMATS.nuscenes)).toBe(
      '<PLANNING>Predicted future movement details for the next 3 seconds (sampled at 0.5-second intervals), including BEV ' +
        'location in x and y directions (in meters). Positive x means forward direction while positive y means leftwards. ' +
        'The output is formatted as [x, y]: [2.15, 0.0], [3.8, 0.09], [5.86, 0.27], [7.93, 0.66], [9.92, 1.28], [11.77, 2.17]</PLANNING>',
    );
  });

  it('reproduces the q7 waypoint list of impromptu-vla.md A7 (b), including the leading -0.00', () => {
    const points = [
      [-0.001, 0],
      [3.32, -0.1],
      [6.58, -0.27],
      [9.8, -0.5],
      [13.05, -0.92],
      [16.31, -1.33],
      [19.64, -1.76],
      [23.09, -2.19],
      [26.7, -2.69],
      [30.33, -3.24],
    ].map(([x, y]) => ({ x: x!, y: y! }));
    const block = formatPlanningBlock(points, PLANNING_FORMATS.q7);
    expect(block.startsWith('<PLANNING>Predicted future movement details for the next 5 seconds')).toBe(true);
    expect(block.slice(PLANNING_FORMATS.q7.preamble.length)).toBe(
      '[-0.00, 0.00], [3.32, -0.10], [6.58, -0.27], [9.80, -0.50], [13.05, -0.92], [16.31, -1.33], [19.64, -1.76], ' +
        '[23.09, -2.19], [26.70, -2.69], [30.33, -3.24]</PLANNING>',
    );
    expect(formatWaypoint({ x: 0, y: -0 }, PLANNING_FORMATS.nuscenes)).toBe('[0.0, 0.0]');
  });

  it('refuses a point count that does not match the format', () => {
    expect(() => formatPlanningBlock([{ x: 1, y: 2 }], PLANNING_FORMATS.nuscenes)).toThrow(
      /Expected an array of 6 waypoints for points but received an array of length 1/,
    );
  });

  it('keeps the reasoning section glue of the generators (no newline after the scene description)', () => {
    const answer = REASONING_SECTIONS.map((s) => `${s.open}T${s.close}`).join('');
    expect(answer).toBe(
      "<Scene Description>Let's start with the environment description: \nT\n</Scene Description>" +
        '<Road Agent Analysis>\nT\n</Road Agent Analysis>\n<Meta Planning>\nT\n</Meta Planning>\n',
    );
  });
});
