/**
 * One-shot trajectory parsing. It is the streaming decoder fed a single chunk, so a streamed answer
 * and the same answer parsed at once always give the same result.
 */
import { invalidArgument } from '../validate.js';
import type { ParsePlanningOptions, PlanningParseResult } from './planningTypes.js';
import { WaypointStreamDecoder } from './WaypointStreamDecoder.js';

/**
 * Parses a complete answer: the first N waypoints (x forward, y left, metres; t = 0.5 s, 1.0 s …),
 * whether N well-formed ones were found, the reasoning sections, and every deviation from the format.
 */
export function parsePlanning(text: string, options: ParsePlanningOptions = {}): PlanningParseResult {
  if (typeof text !== 'string') throw invalidArgument('text', 'a string', text);
  const decoder = new WaypointStreamDecoder(options);
  decoder.push(text);
  return decoder.finish();
}
