/**
 * The pieces of an answer the streaming decoder recognises: the known tags (PLANNING and the
 * reasoning sections, split from the shared format strings so they cannot drift), the text of a
 * waypoint bracket, and a short quoting helper for diagnostics. Internal to lib/action.
 */
import { PLANNING_CLOSE_TAG, PLANNING_OPEN_TAG, REASONING_SECTIONS, type ReasoningSectionKey } from '../prompt/formats.js';

/** A reasoning section split into the pieces the scanner matches separately. */
export interface SectionShape {
  readonly key: ReasoningSectionKey;
  readonly index: number;
  readonly openTag: string;
  /** Trained text right after the open tag (e.g. "Let's start with the environment description: \n"). */
  readonly leadIn: string;
  /** Trained text right before the close tag ("\n"). */
  readonly trail: string;
  readonly closeTag: string;
  /** Trained text right after the close tag ("" or "\n"). */
  readonly after: string;
}

export const SECTION_SHAPES: readonly SectionShape[] = REASONING_SECTIONS.map((section, index) => {
  const openTag = /^<[^>]+>/.exec(section.open)![0];
  const closeStart = section.close.indexOf('</');
  const closeTag = /^<\/[^>]+>/.exec(section.close.slice(closeStart))![0];
  return {
    key: section.key,
    index,
    openTag,
    leadIn: section.open.slice(openTag.length),
    trail: section.close.slice(0, closeStart),
    closeTag,
    after: section.close.slice(closeStart + closeTag.length),
  };
});

export type TagKind = 'sectionOpen' | 'sectionClose' | 'planningOpen' | 'planningClose';
export interface KnownTag {
  readonly text: string;
  readonly kind: TagKind;
  readonly section?: SectionShape;
}

export const KNOWN_TAGS: readonly KnownTag[] = [
  { text: PLANNING_OPEN_TAG, kind: 'planningOpen' },
  { text: PLANNING_CLOSE_TAG, kind: 'planningClose' },
  ...SECTION_SHAPES.flatMap((section): KnownTag[] => [
    { text: section.openTag, kind: 'sectionOpen', section },
    { text: section.closeTag, kind: 'sectionClose', section },
  ]),
];

/** A coordinate as `float()` would take it, minus exponents and inf/nan (never trained, never useful). */
const NUMBER = String.raw`[+-]?(?:\d+\.?\d*|\.\d+)`;
/** Bracket content of a waypoint; groups: lead, x, before comma, after comma, y, trail. */
export const WAYPOINT_CONTENT = new RegExp(String.raw`^(\s*)(${NUMBER})(\s*),(\s*)(${NUMBER})(\s*)$`);
/** What an unclosed bracket at the very end looks like when the text stopped mid-waypoint. */
export const TRUNCATED_WAYPOINT = /^\s*[+-]?[\d.]*\s*(?:,\s*[+-]?[\d.]*\s*)?$/;

/** How far a snippet in a message may run before it is cut. */
const SNIPPET_CHARS = 60;
export const snippet = (text: string): string => JSON.stringify(text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS)}…` : text);
