/**
 * Incremental detokenizer for streamed token ids. A byte-level BPE token may end in the middle of a
 * UTF-8 character ("🚗" is three tokens in Qwen's vocabulary), so decoding token by token would show
 * replacement characters. This keeps the incomplete tail bytes until the character completes and
 * emits only whole characters; the concatenation of everything emitted equals decoding all ids at once.
 */
import { TrtVlaError } from '../errors.js';

/** Options of {@link StreamingDetokenizer}. */
export interface DetokenizerOptions {
  /** Drop special added tokens (`<|im_end|>`, `<|image_pad|>` …) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

/** What the detokenizer needs from a tokenizer. */
export interface DetokenizerVocabulary {
  readonly vocabSize: number;
  tokenBinary(id: number): string;
  isSpecial(id: number): boolean;
}

export class StreamingDetokenizer {
  readonly #vocab: DetokenizerVocabulary;
  readonly #skipSpecial: boolean;
  // `stream: true` makes TextDecoder hold back an incomplete trailing sequence until more bytes come.
  #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  #text = '';

  constructor(vocab: DetokenizerVocabulary, options: DetokenizerOptions = {}) {
    this.#vocab = vocab;
    this.#skipSpecial = options.skipSpecialTokens ?? false;
  }

  /** Everything emitted so far. */
  get text(): string {
    return this.#text;
  }

  /** Adds one token id; returns the characters it completed (possibly ''). */
  push(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.#vocab.vocabSize) {
      throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Expected a token id between 0 and ${this.#vocab.vocabSize - 1} but received ${id}`);
    }
    if (this.#skipSpecial && this.#vocab.isSpecial(id)) return '';
    const binary = this.#vocab.tokenBinary(id);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const piece = this.#decoder.decode(bytes, { stream: true });
    this.#text += piece;
    return piece;
  }

  /** Adds several ids; returns the characters they completed. */
  pushAll(ids: ArrayLike<number>): string {
    let out = '';
    for (let i = 0; i < ids.length; i++) out += this.push(ids[i]);
    return out;
  }

  /** Ends the stream: an incomplete trailing character becomes U+FFFD (as a full decode does). */
  flush(): string {
    const piece = this.#decoder.decode();
    this.#text += piece;
    this.#decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return piece;
  }
}
