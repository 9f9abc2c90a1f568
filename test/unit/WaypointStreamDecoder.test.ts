import { describe, expect, it } from 'vitest';

import { parsePlanning } from '../../lib/action/parsePlanning.js';
import type { PlanningStreamEvent } from '../../lib/action/planningTypes.js';
import { WaypointStreamDecoder } from '../../lib/action/WaypointStreamDecoder.js';
import { PLANNING_FORMATS, REASONING_SECTIONS } from '../../lib/prompt/formats.js';
import { pick, seededRandom } from '../helpers/random.js';

const NUS = PLANNING_FORMATS.nuscenes;
const POINTS = '[2.15, 0.0], [3.8, 0.09], [5.86, 0.27], [7.93, 0.66], [9.92, 1.28], [11.77, 2.17]';
const EXACT = `${NUS.preamble}${POINTS}</PLANNING>`;
const SLOW =
  "<Scene Description>Let's start with the environment description: \nRain [1.0, 2.0] <b>.\n</Scene Description>" +
  '<Road Agent Analysis>\nA bus.\n</Road Agent Analysis>\n<Meta Planning>\nKeep lane.\n</Meta Planning>\n' +
  EXACT;

/** Feeds `text` one character at a time; returns, per event, the text length at which it was emitted. */
function emissionPoints(text: string, options = {}): { at: number; event: PlanningStreamEvent }[] {
  const decoder = new WaypointStreamDecoder(options);
  const out: { at: number; event: PlanningStreamEvent }[] = [];
  for (let i = 0; i < text.length; i++) {
    for (const event of decoder.push(text[i]!)) out.push({ at: i + 1, event });
  }
  decoder.finish();
  return out;
}

describe('WaypointStreamDecoder', () => {
  it("emits each waypoint exactly when its ']' arrives", () => {
    const emitted = emissionPoints(EXACT);
    const closers = [...EXACT.matchAll(/\]/g)].map((m) => m.index! + 1).slice(1); // skip the [x, y] header
    expect(emitted.map((e) => e.at)).toEqual(closers);
    expect(emitted.map((e) => e.event)).toEqual(parsePlanning(EXACT).waypoints.map((waypoint, index) => ({ type: 'waypoint', index, waypoint })));
  });

  it('emits each reasoning section when its closing tag completes, in slow mode', () => {
    const emitted = emissionPoints(SLOW, { mode: 'slow' });
    const reasoning = emitted.filter((e) => e.event.type === 'reasoning');
    const tagEnds = REASONING_SECTIONS.map((s) => {
      const closeTag = `</${/^<([^>]+)>/.exec(s.open)![1]}>`;
      return SLOW.indexOf(closeTag) + closeTag.length;
    });
    expect(reasoning.map((e) => e.at)).toEqual(tagEnds);
    expect(reasoning.map((e) => e.event)).toEqual([
      { type: 'reasoning', section: 'sceneDescription', text: 'Rain [1.0, 2.0] <b>.' },
      { type: 'reasoning', section: 'roadAgentAnalysis', text: 'A bus.' },
      { type: 'reasoning', section: 'metaPlanning', text: 'Keep lane.' },
    ]);
    expect(emitted.filter((e) => e.event.type === 'waypoint')).toHaveLength(6);
  });

  it('holds a chunk that ends inside a number or a tag until it is resolved', () => {
    const decoder = new WaypointStreamDecoder();
    expect(decoder.push(`${NUS.preamble}[2.1`)).toEqual([]);
    expect(decoder.push('5, 0.')).toEqual([]);
    expect(decoder.push('0], [3.8, 0.09')).toEqual([{ type: 'waypoint', index: 0, waypoint: { t: 0.5, x: 2.15, y: 0 } }]);
    expect(decoder.push(']')).toEqual([{ type: 'waypoint', index: 1, waypoint: { t: 1, x: 3.8, y: 0.09 } }]);
    expect(decoder.waypoints).toHaveLength(2);
    const tags = new WaypointStreamDecoder({ mode: 'slow' });
    expect(tags.push('<Road Agent Analysis>\nx\n</Road Agent Analy')).toEqual([]);
    expect(tags.push('sis>')).toEqual([{ type: 'reasoning', section: 'roadAgentAnalysis', text: 'x' }]);
  });

  it('finishes once, returns the same result again, and refuses more text', () => {
    const decoder = new WaypointStreamDecoder();
    decoder.push(EXACT);
    const result = decoder.finish();
    expect(decoder.finish()).toBe(result);
    expect(() => decoder.push('x')).toThrow('Cannot push text into a WaypointStreamDecoder after finish()');
    expect(() => new WaypointStreamDecoder().push(3 as never)).toThrow('Expected a string for chunk but received 3 of type number');
  });
});

/** Pieces that build both well-formed and broken answers, including partial tags and numbers. */
const PIECES = [
  NUS.preamble, NUS.preamble.slice(10), '<PLANNING>', '</PLANNING>', '<PLAN', '</PLANNING', '<', '[', ']', '[x, y]', ', ', ',', ' ',
  '[2.15, 0.0]', '[3.8, 0.09]', '[-0.00, 0.00]', '[12, 3]', '[ 1.5 ,2.50 ]', '[1e3, 2]', '[a, b]', '[5.8', '[[1.0, 2.0]',
  ...REASONING_SECTIONS.flatMap((s) => [s.open, s.close]), '<Scene Description>', '</Meta Planning>', 'text < 5 m/s', '\n', 'é😀',
];

function randomAnswer(random: () => number): string {
  if (random() < 0.25) return random() < 0.5 ? EXACT : SLOW;
  const parts: string[] = [];
  const count = 1 + Math.floor(random() * 30);
  for (let i = 0; i < count; i++) parts.push(pick(random, PIECES));
  return parts.join('');
}

function randomChunks(random: () => number, text: string): string[] {
  const chunks: string[] = [];
  let i = 0;
  while (i < text.length) {
    const size = random() < 0.3 ? 1 : 1 + Math.floor(random() * 12);
    chunks.push(text.slice(i, i + size)); // may split a surrogate pair: chunks are code units
    i += size;
  }
  if (random() < 0.2) chunks.splice(Math.floor(random() * chunks.length), 0, '');
  return chunks;
}

describe('WaypointStreamDecoder property: any chunking gives parsePlanning’s result', () => {
  it('holds over 400 random answers × 8 random chunkings each, in both modes and formats', () => {
    const random = seededRandom(0x5eed);
    for (let caseIndex = 0; caseIndex < 400; caseIndex++) {
      const text = randomAnswer(random);
      const options = { mode: pick(random, ['fast', 'slow'] as const), format: pick(random, ['nuscenes', 'q7'] as const) };
      const expected = parsePlanning(text, options);
      const oneShot = new WaypointStreamDecoder(options);
      const oneShotEvents = oneShot.push(text);
      for (let k = 0; k < 8; k++) {
        const decoder = new WaypointStreamDecoder(options);
        const events = randomChunks(random, text).flatMap((chunk) => decoder.push(chunk));
        const context = `case ${caseIndex}, chunking ${k}: ${JSON.stringify(text)}`;
        expect(decoder.finish(), context).toEqual(expected);
        expect(events, context).toEqual(oneShotEvents);
      }
    }
  });
});
