/**
 * Sample answers the compiler tokenizes to learn where the canonical tokenization is fixed. A forced
 * run may only hold tokens that are the same in every answer, so the samples must put every literal
 * next to every kind of neighbour the grammar allows: numbers of each shape and sign, and free text
 * that starts and ends with each character class of the Qwen pre-tokenizer (letters, digits,
 * punctuation, spaces, newlines, CR, apostrophe contractions, non-ASCII).
 */
import type { GrammarElement } from './grammar.js';

/** round2 numbers covering every state of its DFA (signs, 1–3 integer digits, 1–2 decimals, -0.0x). */
const ROUND2 = ['0.0', '2.15', '-0.01', '-0.5', '-0.35', '7.3', '-12.25', '123.4', '-999.99', '0.07', '11.77', '-3.8', '0.1', '-0.09', '100.0', '-45.6'];
/** fixed2 numbers covering every state of its DFA. */
const FIXED2 = ['0.00', '-0.00', '3.32', '-0.10', '16.31', '-1.33', '123.45', '-999.99', '0.07', '7.00', '-30.33', '45.60'];

/** Free texts (NFC, none contains a closing marker). */
export const FREE_TEXT_SAMPLES: readonly string[] = [
  'The ego vehicle is driving on a straight urban road with light traffic.',
  '',
  ' ',
  '\n',
  'A',
  'x',
  '1',
  '.',
  "'s",
  'Cars: 3 parked, 1 moving.\n',
  ' leading and trailing spaces ',
  '\nStarts with a newline',
  'Ends with a newline\n',
  'Ends with two newlines\n\n',
  'Windows\r\nline end\r\n',
  "The car's lane; it's clear'",
  'tab\tseparated\t',
  'Unicode: café, 日本語, 🚗',
  '(parenthesis)',
  'ends with punctuation...',
  '- bullet\n- list\n',
  '<tag> and </tag',
  '999',
  '  \n  ',
  '"quoted"',
  '> quote',
  'x\n\n\n',
  'Speed: 12.5 m/s, heading -3°',
];

/**
 * Deterministic sample answers for `elements`: enough that each number position takes every sample
 * number and each free position every sample text, in shifting combinations.
 */
export function sampleAnswers(elements: readonly GrammarElement[]): string[] {
  const numbers = elements.some((e) => e.type === 'number' && e.style === 'fixed2') ? FIXED2 : ROUND2;
  const hasFree = elements.some((e) => e.type === 'free');
  const count = 2 * Math.max(numbers.length, hasFree ? FREE_TEXT_SAMPLES.length : 0);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let text = '';
    let n = 0;
    let f = 0;
    for (const el of elements) {
      if (el.type === 'literal') text += el.text;
      else if (el.type === 'number') {
        // Stride coprime with the list length, so neighbours meet in many sign/shape combinations.
        text += numbers[(i * 5 + n * 3 + (i >= count / 2 ? n * n : 0)) % numbers.length];
        n++;
      } else {
        text += FREE_TEXT_SAMPLES[(i + f * 7) % FREE_TEXT_SAMPLES.length] + el.marker;
        f++;
      }
    }
    out.push(text);
  }
  // All-positive and all-negative answers: every separator next to both signs at once.
  for (const sign of ['', '-']) {
    let text = '';
    let f = 0;
    for (const el of elements) {
      if (el.type === 'literal') text += el.text;
      else if (el.type === 'number') text += `${sign}${numbers === FIXED2 ? '1.25' : '1.5'}`;
      else text += FREE_TEXT_SAMPLES[f++ % FREE_TEXT_SAMPLES.length] + el.marker;
    }
    out.push(text);
  }
  return out;
}
