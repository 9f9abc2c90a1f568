/**
 * Incremental decoder for the model's answer text. It consumes chunks as they stream (a chunk may end
 * anywhere, even inside a number or a tag), emits each waypoint the moment its closing bracket arrives
 * and each reasoning section the moment it closes, and records every deviation from the trained format.
 *
 * `parsePlanning(text)` (parsePlanning.ts) is this decoder fed one chunk, so streaming and one-shot
 * parsing cannot disagree: the scanner only commits a token once no later text can change how it
 * reads (an open `[` waits for its `]`; a `<` that could still become a known tag waits for more).
 *
 * Tolerance follows the reference evaluator (impromptu-vla.md §4, §9): tags optional, a missing
 * closing tag, non-numeric brackets such as the `[x, y]` header skipped, integers and 0–2+ decimals,
 * `-0.00`, extra spaces. Brackets inside reasoning sections are never waypoints.
 */
import { TrtVlaError } from '../errors.js';
import { resolvePlanningFormat, resolvePlanningMode, type PlanningMode } from '../prompt/answerSpec.js';
import { formatCoordinate, PLANNING_CLOSE_TAG, PLANNING_OPEN_TAG, type PlanningFormatSpec, type ReasoningSectionKey } from '../prompt/formats.js';
import { invalidArgument, optionalInteger } from '../validate.js';
import { KNOWN_TAGS, SECTION_SHAPES, snippet, TRUNCATED_WAYPOINT, WAYPOINT_CONTENT, type KnownTag, type SectionShape } from './answerTokens.js';
import type {
  ParsePlanningOptions,
  PlanningDiagnostic,
  PlanningDiagnosticCode,
  PlanningParseResult,
  PlanningStreamEvent,
  Waypoint,
} from './planningTypes.js';

/** Token kinds that bound a stretch of free text; the text between two of them must match the format. */
type Boundary = 'start' | 'sectionOpen' | 'sectionClose' | 'implicitClose' | 'planningOpen' | 'waypoint' | 'planningClose' | 'end';
type Region = 'outside' | 'section' | 'planning' | 'after';

export class WaypointStreamDecoder {
  readonly #spec: PlanningFormatSpec;
  readonly #count: number;
  readonly #mode: PlanningMode;
  /** The trained text between `<PLANNING>` and the first waypoint. */
  readonly #preambleRest: string;

  #text = '';
  /** Everything before this index is committed. */
  #pos = 0;
  /** Where the search for a pending `[`'s terminator resumes (avoids rescanning on every chunk). */
  #bracketSearchFrom = 0;
  #region: Region = 'outside';
  #openSection: SectionShape | undefined;
  #sectionBodyStart = 0;
  #prev: Boundary = 'start';
  #prevSection: SectionShape | undefined;
  #prevEnd = 0;
  /** Free text since the previous boundary, minus skipped misplaced tags: collected part + uncollected start. */
  #gapCollected = '';
  #gapCursor = 0;
  #planningStarted = false;
  readonly #sectionsSeen: ReasoningSectionKey[] = [];
  readonly #waypoints: Waypoint[] = [];
  readonly #diagnostics: PlanningDiagnostic[] = [];
  readonly #reasoning: Partial<Record<ReasoningSectionKey, string>> = {};
  #result: PlanningParseResult | undefined;

  constructor(options: ParsePlanningOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', 'an object', options);
    this.#spec = resolvePlanningFormat(options.format, 'options.format');
    this.#count = optionalInteger(options.waypoints, 'options.waypoints', 1, 100) ?? this.#spec.waypoints;
    this.#mode = resolvePlanningMode(options.mode, 'options.mode');
    this.#preambleRest = this.#spec.preamble.slice(PLANNING_OPEN_TAG.length);
  }

  /** Waypoints decoded so far (at most the requested count). */
  get waypoints(): readonly Waypoint[] {
    return this.#waypoints;
  }

  /** Diagnostics so far; some (missing close tag, too few waypoints) are only known at `finish()`. */
  get diagnostics(): readonly PlanningDiagnostic[] {
    return this.#diagnostics;
  }

  /** All text pushed so far. */
  get text(): string {
    return this.#text;
  }

  /** Feeds the next chunk; returns the waypoints and reasoning sections it completed, in text order. */
  push(chunk: string): PlanningStreamEvent[] {
    if (typeof chunk !== 'string') throw invalidArgument('chunk', 'a string', chunk);
    if (this.#result) throw new TrtVlaError('ERR_INVALID_ARGUMENT', 'Cannot push text into a WaypointStreamDecoder after finish()');
    this.#text += chunk;
    const events: PlanningStreamEvent[] = [];
    this.#scan(false, events);
    return events;
  }

  /** Ends the stream: resolves pending text, adds end-of-text diagnostics and returns the result (idempotent). */
  finish(): PlanningParseResult {
    if (this.#result) return this.#result;
    this.#scan(true, []);
    const end = this.#text.length;
    if (this.#region === 'section') {
      const section = this.#openSection!;
      this.#report('section-unclosed', `${section.openTag} is not closed before the end of the text`, end, 0);
      this.#closeSection(end, true, []);
      this.#setBoundary('implicitClose', section, end);
    }
    if (!this.#planningStarted && this.#region !== 'after') {
      this.#checkMissingSections(end);
      this.#report('missing-open-tag', `no ${PLANNING_OPEN_TAG} block in the text`, end, 0);
    }
    const truncatedAt = this.#region === 'planning' ? this.#reportTruncatedWaypoint(end) : undefined;
    // A cut-off waypoint still counts as the next waypoint for the separator before it.
    if (truncatedAt === undefined) this.#checkGap('end', end);
    else this.#checkGap('waypoint', truncatedAt);
    if (this.#region !== 'after') this.#report('missing-close-tag', `the text ends without ${PLANNING_CLOSE_TAG}`, end, 0);
    if (this.#waypoints.length < this.#count) {
      this.#report('too-few-waypoints', `found ${this.#waypoints.length} of ${this.#count} waypoints`, end, 0);
    }
    this.#result = {
      waypoints: [...this.#waypoints],
      complete: this.#waypoints.length === this.#count,
      diagnostics: [...this.#diagnostics],
      reasoning: { ...this.#reasoning },
    };
    return this.#result;
  }

  #report(code: PlanningDiagnosticCode, message: string, offset: number, length: number): void {
    this.#diagnostics.push({ code, message, offset, length });
  }

  #scan(final: boolean, events: PlanningStreamEvent[]): void {
    const text = this.#text;
    while (this.#pos < text.length) {
      if (this.#region === 'after') {
        this.#pos = text.length; // everything after </PLANNING> is checked as one trailing gap at finish()
        break;
      }
      const inSection = this.#region === 'section';
      let i = this.#pos;
      while (i < text.length && text[i] !== '<' && (inSection || text[i] !== '[')) i++;
      if (i === text.length) {
        this.#pos = i;
        break;
      }
      if (text[i] === '<') {
        const tag = this.#matchTag(i, final);
        if (tag === 'pending') {
          this.#pos = i;
          break;
        }
        if (tag === undefined) this.#pos = i + 1;
        else if (inSection) this.#onSectionTag(tag, i, events);
        else this.#onTag(tag, i);
        continue;
      }
      if (!this.#onBracket(i, final, events)) {
        this.#pos = i;
        break;
      }
    }
  }

  /** The known tag starting at `index`, 'pending' if more text could still complete one, else undefined. */
  #matchTag(index: number, final: boolean): KnownTag | 'pending' | undefined {
    const rest = this.#text.slice(index, index + 24);
    for (const tag of KNOWN_TAGS) {
      if (rest.startsWith(tag.text)) return tag;
    }
    const atEnd = index + rest.length === this.#text.length;
    if (!final && atEnd && KNOWN_TAGS.some((tag) => tag.text.length > rest.length && tag.text.startsWith(rest))) return 'pending';
    return undefined;
  }

  /** Handles the `[` at `start`; false when it must wait for more text. */
  #onBracket(start: number, final: boolean, events: PlanningStreamEvent[]): boolean {
    const text = this.#text;
    let j = Math.max(start + 1, this.#bracketSearchFrom);
    while (j < text.length && text[j] !== ']' && text[j] !== '[' && text[j] !== '<') j++;
    if (j === text.length) {
      if (!final) {
        this.#bracketSearchFrom = j;
        return false;
      }
      this.#pos = j; // unclosed at the end: free text (finish() reports a truncated waypoint)
      return true;
    }
    this.#bracketSearchFrom = 0;
    if (text[j] !== ']') {
      this.#pos = j; // another `[` or a tag before any `]`: this `[` is plain text
      return true;
    }
    const match = WAYPOINT_CONTENT.exec(text.slice(start + 1, j));
    const x = match ? Number(match[2]) : NaN;
    const y = match ? Number(match[5]) : NaN;
    if (!match || !Number.isFinite(x) || !Number.isFinite(y)) {
      this.#pos = j + 1; // a header such as `[x, y]` or other non-numeric bracket: free text
      return true;
    }
    this.#onWaypoint(start, j + 1, match, x, y, events);
    return true;
  }

  #onWaypoint(start: number, end: number, match: RegExpExecArray, x: number, y: number, events: PlanningStreamEvent[]): void {
    if (!this.#planningStarted) {
      this.#startPlanning(start);
      this.#report('missing-open-tag', `waypoints start without ${PLANNING_OPEN_TAG}`, start, 0);
    }
    this.#checkGap('waypoint', start);
    const [, lead, xText, beforeComma, afterComma, yText, trail] = match as unknown as string[];
    if (lead !== '' || beforeComma !== '' || afterComma !== ' ' || trail !== '') {
      this.#report('bracket-spacing', `expected "[x, y]" spacing but found ${snippet(this.#text.slice(start, end))}`, start, end - start);
    }
    const xOffset = start + 1 + lead!.length;
    const yOffset = xOffset + xText!.length + beforeComma!.length + 1 + afterComma!.length;
    this.#checkNumber(xText!, x, xOffset);
    this.#checkNumber(yText!, y, yOffset);
    const index = this.#waypoints.length;
    if (index < this.#count) {
      // `+ 0` turns a parsed "-0.00" into 0: the sign of zero carries no position.
      const waypoint: Waypoint = { t: (index + 1) * this.#spec.stepSeconds, x: x + 0, y: y + 0 };
      this.#waypoints.push(waypoint);
      events.push({ type: 'waypoint', index, waypoint });
    } else {
      this.#report('extra-waypoint', `waypoint ${index + 1} is beyond the requested ${this.#count}; ignored`, start, end - start);
    }
    this.#setBoundary('waypoint', undefined, end);
  }

  #checkNumber(written: string, value: number, offset: number): void {
    const canonical = formatCoordinate(value, this.#spec.numberStyle);
    if (written !== canonical) {
      this.#report('number-format', `expected ${canonical} (${this.#spec.numberStyle}) but found ${written}`, offset, written.length);
    }
  }

  #onTag(tag: KnownTag, start: number): void {
    const end = start + tag.text.length;
    if (this.#region === 'outside' && tag.kind === 'sectionOpen') {
      this.#checkGap('sectionOpen', start);
      this.#openSectionAt(tag.section!, start, end);
      return;
    }
    if (tag.kind === 'planningOpen' && this.#region === 'outside') {
      this.#checkGap('planningOpen', start);
      this.#startPlanning(start);
      this.#setBoundary('planningOpen', undefined, end);
      return;
    }
    if (tag.kind === 'planningClose') {
      if (!this.#planningStarted) {
        this.#startPlanning(start);
        this.#report('missing-open-tag', `${PLANNING_CLOSE_TAG} without ${PLANNING_OPEN_TAG}`, start, 0);
      }
      this.#checkGap('planningClose', start);
      this.#region = 'after';
      this.#setBoundary('planningClose', undefined, end);
      return;
    }
    // A second <PLANNING>, a section tag inside the planning block, a stray closing section tag.
    this.#report('misplaced-tag', `${tag.text} cannot appear here; skipped`, start, tag.text.length);
    this.#gapCollected += this.#text.slice(this.#gapCursor, start);
    this.#gapCursor = end;
    this.#pos = end;
  }

  #openSectionAt(section: SectionShape, start: number, end: number): void {
    if (this.#mode === 'fast') {
      this.#report('unexpected-section', `${section.openTag} in a fast-mode answer (parsed anyway)`, start, end - start);
    } else if (this.#sectionsSeen.includes(section.key) || section.index !== this.#sectionsSeen.length) {
      const expected = SECTION_SHAPES[this.#sectionsSeen.length];
      const want = expected ? expected.openTag : PLANNING_OPEN_TAG;
      this.#report('section-order', `expected ${want} but found ${section.openTag}`, start, end - start);
    }
    this.#sectionsSeen.push(section.key);
    this.#region = 'section';
    this.#openSection = section;
    this.#sectionBodyStart = end;
    this.#pos = end;
  }

  #onSectionTag(tag: KnownTag, start: number, events: PlanningStreamEvent[]): void {
    const section = this.#openSection!;
    if (tag.kind === 'sectionClose' && tag.section === section) {
      this.#closeSection(start, false, events);
      this.#setBoundary('sectionClose', section, start + tag.text.length);
      return;
    }
    if (tag.kind === 'sectionOpen' || tag.kind === 'planningOpen') {
      // The model moved on without closing: close here and let the tag be read again outside.
      this.#report('section-unclosed', `${section.openTag} is not closed before ${tag.text}`, start, 0);
      this.#closeSection(start, true, events);
      this.#setBoundary('implicitClose', section, start);
      return;
    }
    this.#pos = start + 1; // any other tag inside a section body is part of its text
  }

  #closeSection(bodyEnd: number, implicit: boolean, events: PlanningStreamEvent[]): void {
    const section = this.#openSection!;
    let body = this.#text.slice(this.#sectionBodyStart, bodyEnd);
    if (body.startsWith(section.leadIn)) body = body.slice(section.leadIn.length);
    else this.#report('section-format', `${section.openTag} should start with ${snippet(section.leadIn)}`, this.#sectionBodyStart, 0);
    if (body.endsWith(section.trail)) body = body.slice(0, body.length - section.trail.length);
    else if (!implicit) this.#report('section-format', `${section.closeTag} should follow ${snippet(section.trail)}`, bodyEnd, 0);
    this.#reasoning[section.key] = body;
    this.#region = 'outside';
    this.#openSection = undefined;
    events.push({ type: 'reasoning', section: section.key, text: body });
  }

  #startPlanning(at: number): void {
    this.#planningStarted = true;
    this.#region = 'planning';
    this.#checkMissingSections(at);
  }

  #checkMissingSections(at: number): void {
    if (this.#mode !== 'slow') return;
    for (const section of SECTION_SHAPES) {
      if (!this.#sectionsSeen.includes(section.key)) {
        this.#report('section-missing', `no ${section.openTag} section before the planning block`, at, 0);
      }
    }
  }

  #setBoundary(kind: Boundary, section: SectionShape | undefined, end: number): void {
    this.#prev = kind;
    this.#prevSection = section;
    this.#prevEnd = end;
    this.#gapCollected = '';
    this.#gapCursor = end;
    this.#pos = end;
  }

  /** The free text the format has between the previous boundary and a `next` one. */
  #expectedGap(next: Boundary): string {
    switch (this.#prev) {
      case 'waypoint':
        return next === 'waypoint' ? this.#spec.separator : '';
      case 'planningOpen':
        return this.#preambleRest;
      case 'planningClose':
        return '';
      default: {
        // start, sectionClose, implicitClose: what the previous section leaves, then the preamble
        // itself when the waypoints begin without a tag.
        const after = this.#prev === 'sectionClose' ? this.#prevSection!.after : '';
        return next === 'waypoint' ? after + this.#preambleRest : after;
      }
    }
  }

  #checkGap(next: Boundary, nextStart: number): void {
    const gap = this.#gapCollected + this.#text.slice(this.#gapCursor, nextStart);
    const expected = this.#expectedGap(next);
    if (gap === expected) return;
    let code: PlanningDiagnosticCode = 'unexpected-text';
    if (this.#prev === 'waypoint' && next === 'waypoint') code = 'separator-mismatch';
    else if (this.#prev === 'planningOpen' || (next === 'waypoint' && this.#prev !== 'waypoint')) code = 'preamble-mismatch';
    this.#report(code, `expected ${snippet(expected)} but found ${snippet(gap)}`, this.#prevEnd, nextStart - this.#prevEnd);
  }

  /** At the end of the text: reports an unclosed numeric-looking `[` and returns where it starts. */
  #reportTruncatedWaypoint(end: number): number | undefined {
    const text = this.#text;
    const open = text.lastIndexOf('[');
    if (open < this.#gapCursor || text.indexOf(']', open) !== -1 || text.indexOf('<', open) !== -1) return undefined;
    if (!TRUNCATED_WAYPOINT.test(text.slice(open + 1))) return undefined;
    this.#report('truncated-waypoint', `the text ends inside ${snippet(text.slice(open))}`, open, end - open);
    return open;
  }
}

