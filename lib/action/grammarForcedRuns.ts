/**
 * Forced runs (jump-forward) of the token automaton. Where the byte DFA has a single continuation, the
 * run is the canonical tokenization of that text, but BPE merges never cross pre-token boundaries and
 * the last pre-token before a choice may merge with what the model writes next (Qwen's pre-tokenizer
 * makes " [-" one pre-token, so " [" before a number that may be negative must stay unforced). So the
 * runs are read off the canonical tokenizations of sample answers (grammarSamples.ts) that put every
 * literal next to every kind of neighbour: a run holds only tokens that are identical in all samples.
 */
import { TrtVlaError } from '../errors.js';
import { utf8Binary } from '../tokenizer/byteLevel.js';
import { DFA_EDGES, DFA_END, type ByteDfa, type GrammarElement } from './grammar.js';
import type { GrammarTokenizer } from './grammarCompiler.js';
import { sampleAnswers } from './grammarSamples.js';

/** A sample answer with its DFA trace and canonical tokens. */
export interface Sample {
  /** DFA state before each byte, and the end state after the last. */
  states: Int32Array;
  /** Canonical token ids (without the end-of-turn token). */
  ids: number[];
  /** Index of the token starting at each byte position (ids.length at the end), -1 inside a token. */
  tokenStart: Int32Array;
}

export function tokenizeSamples(dfa: ByteDfa, elements: readonly GrammarElement[], tokenizer: GrammarTokenizer): Sample[] {
  return sampleAnswers(elements).map((text) => {
    const bin = utf8Binary(text);
    const states = dfa.trace(bin);
    if (!states) throw new TrtVlaError('ERR_INTERNAL', `grammar sample does not match the grammar: ${JSON.stringify(text)}`);
    const ids = tokenizer.encode(text);
    const tokenStart = new Int32Array(bin.length + 1).fill(-1);
    let pos = 0;
    for (let k = 0; k < ids.length && pos >= 0; k++) {
      tokenStart[pos] = k;
      const t = tokenizer.tokenBinary(ids[k]);
      pos = bin.startsWith(t, pos) ? pos + t.length : -1;
    }
    // The token bytes must spell the sample exactly (NFC leaves the samples unchanged).
    if (pos !== bin.length) throw new TrtVlaError('ERR_INTERNAL', 'the tokenizer changed a grammar sample (normalization?)');
    tokenStart[bin.length] = ids.length;
    return { states, ids, tokenStart };
  });
}

/** One pass of a sample through a DFA state: the byte position where it was in that state. */
interface Visit {
  sample: Sample;
  pos: number;
}

function decodeStrict(binary: string): string | undefined {
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Forced run of each token state (DFA state `charOf[s]`) and the DFA state it ends in, before runs
 * are chained. The end state (DFA_END) is forced to the end-of-turn token.
 */
export function forcedRuns(
  dfa: ByteDfa,
  charOf: readonly number[],
  samples: readonly Sample[],
  tokenizer: GrammarTokenizer,
): { runs: number[][]; ends: number[] } {
  const visits = new Map<number, Visit[]>();
  for (const sample of samples) {
    sample.states.forEach((c, pos) => {
      if (dfa.kind[c] !== DFA_EDGES) return;
      let list = visits.get(c);
      if (!list) visits.set(c, (list = []));
      list.push({ sample, pos });
    });
  }
  const runs: number[][] = [];
  const ends: number[] = [];
  for (const c of charOf) {
    runs.push([]);
    ends.push(c);
    if (dfa.kind[c] === DFA_END) {
      runs[runs.length - 1] = [tokenizer.specialIds.imEnd];
      ends[ends.length - 1] = dfa.accept;
      continue;
    }
    const chain = [c];
    let bytes = '';
    for (let x = c; dfa.kind[x] === DFA_EDGES && dfa.edges[x].length === 1; ) {
      bytes += String.fromCharCode(dfa.edges[x][0][0]);
      x = dfa.edges[x][0][1];
      chain.push(x);
    }
    const seen = visits.get(c);
    if (bytes.length === 0 || !seen) continue;
    const boundary = (v: Visit, q: number): boolean => v.sample.tokenStart[v.pos + q] >= 0;
    const slice = (v: Visit, q: number): number[] =>
      v.sample.ids.slice(v.sample.tokenStart[v.pos], v.sample.tokenStart[v.pos + q]);
    const canonical = seen.every((v) => boundary(v, 0));
    // A state that is never a canonical boundary is only reached after an off-canonical token; the
    // rest of the run is then forced as the tokenizer's own tokens for that text.
    const offPath = seen.every((v) => !boundary(v, 0));
    if (!canonical && !offPath) continue; // depends on what came before: let the model choose
    for (let q = bytes.length; q >= 1; q--) {
      if (!seen.every((v) => boundary(v, q))) continue;
      let run: number[] | undefined;
      if (canonical) {
        const first = slice(seen[0], q);
        const same = (v: Visit): boolean => {
          const other = slice(v, q);
          return other.length === first.length && other.every((t, i) => t === first[i]);
        };
        if (seen.every(same)) run = first;
      } else {
        const text = decodeStrict(bytes.slice(0, q));
        const ids = text === undefined ? [] : tokenizer.encode(text);
        if (ids.map((id) => tokenizer.tokenBinary(id)).join('') === bytes.slice(0, q)) run = ids;
      }
      if (run && run.length > 0) {
        runs[runs.length - 1] = run;
        ends[ends.length - 1] = chain[q];
        break;
      }
    }
  }
  return { runs, ends };
}
