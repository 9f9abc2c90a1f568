/**
 * The Qwen2.5-VL tokenizer of a model bundle: byte-level BPE from `tokenizer.json` (run by
 * `@huggingface/tokenizers`), the added/special tokens, and the token ids the runtime needs, all
 * looked up from the files so that a bundle with a different vocabulary layout still works or fails
 * loudly at load time.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

import { TrtVlaError } from '../errors.js';
import { byteLevelToBinary, binaryToBytes, utf8Binary } from './byteLevel.js';
import { StreamingDetokenizer, type DetokenizerOptions } from './StreamingDetokenizer.js';

/** Ids of the special tokens the prompt builder and the decode loop use. */
export interface SpecialTokenIds {
  /** `<|endoftext|>`: document end; Qwen2.5-VL's pad token. */
  readonly endOfText: number;
  /** `<|im_start|>`: opens a chat turn. */
  readonly imStart: number;
  /** `<|im_end|>`: closes a chat turn; the end-of-answer token of the chat model. */
  readonly imEnd: number;
  /** `<|vision_start|>`: precedes an image's pad run. */
  readonly visionStart: number;
  /** `<|vision_end|>`: follows an image's pad run. */
  readonly visionEnd: number;
  /** `<|image_pad|>`: one per merged image patch; replaced by vision embeddings. */
  readonly imagePad: number;
  /** `<|video_pad|>`, when the vocabulary has it. */
  readonly videoPad?: number;
  /** `<|vision_pad|>`, when the vocabulary has it. */
  readonly visionPad?: number;
}

/** One added token of tokenizer.json (specials and the others such as `<tool_call>`). */
export interface AddedTokenInfo {
  readonly id: number;
  readonly content: string;
  /** Whether decode(skipSpecialTokens) drops it. */
  readonly special: boolean;
}

const REQUIRED_SPECIALS = {
  endOfText: '<|endoftext|>',
  imStart: '<|im_start|>',
  imEnd: '<|im_end|>',
  visionStart: '<|vision_start|>',
  visionEnd: '<|vision_end|>',
  imagePad: '<|image_pad|>',
} as const;

function loadError(message: string, cause?: unknown): TrtVlaError {
  return new TrtVlaError('ERR_MODEL_LOAD', message, cause === undefined ? undefined : { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A config token entry is either a string or `{ content }` (AddedToken serialisation). */
function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

export class QwenTokenizer {
  /** Total number of token ids (text vocabulary plus added tokens). */
  readonly vocabSize: number;
  /** Ids below this are byte-level BPE text tokens; ids from here on are added tokens. */
  readonly textVocabSize: number;
  readonly specialIds: SpecialTokenIds;
  /** End-of-sequence id from tokenizer_config (`<|im_end|>` for Qwen2.5-VL). */
  readonly eosTokenId: number;
  /** Padding id from tokenizer_config (`<|endoftext|>` for Qwen2.5-VL). */
  readonly padTokenId: number;
  /** The Jinja chat template of tokenizer_config, if any (informational: rendering is in chatTemplate.ts). */
  readonly chatTemplate: string | undefined;
  readonly addedTokens: readonly AddedTokenInfo[];

  readonly #hf: HfTokenizer;
  /** Bytes of each id as a binary string (one char per byte). */
  readonly #binary: string[];
  readonly #special: Uint8Array;
  readonly #idsByContent: Map<string, number>;

  private constructor(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>) {
    const model = tokenizerJson.model;
    if (!isRecord(model) || model.type !== 'BPE' || !isRecord(model.vocab)) {
      throw loadError('tokenizer.json: expected a BPE model with a vocab');
    }
    const decoder = tokenizerJson.decoder;
    if (!isRecord(decoder) || decoder.type !== 'ByteLevel') {
      // The byte tables below (streaming decode, grammar compilation) assume byte-level tokens.
      throw loadError('tokenizer.json: expected a ByteLevel decoder (Qwen byte-level BPE)');
    }
    const vocab = model.vocab as Record<string, unknown>;
    const entries = Object.entries(vocab);
    this.textVocabSize = entries.length;
    this.#binary = new Array<string>(entries.length);
    for (const [token, id] of entries) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length || this.#binary[id] !== undefined) {
        throw loadError(`tokenizer.json: vocab ids must be 0..${entries.length - 1}, each once (bad entry ${JSON.stringify(token)})`);
      }
      const binary = byteLevelToBinary(token);
      if (binary === undefined) throw loadError(`tokenizer.json: vocab token ${JSON.stringify(token)} is not byte-level`);
      this.#binary[id] = binary;
    }

    const added: AddedTokenInfo[] = [];
    const rawAdded = Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : [];
    for (const entry of rawAdded) {
      if (!isRecord(entry) || typeof entry.id !== 'number' || typeof entry.content !== 'string') {
        throw loadError('tokenizer.json: malformed added_tokens entry');
      }
      added.push({ id: entry.id, content: entry.content, special: entry.special === true });
    }
    added.sort((a, b) => a.id - b.id);
    added.forEach((token, i) => {
      // Added ids must follow the text vocabulary without gaps so that id → bytes is a dense table.
      if (token.id !== this.textVocabSize + i) {
        throw loadError(`tokenizer.json: added token ${token.content} has id ${token.id}, expected ${this.textVocabSize + i}`);
      }
    });
    this.addedTokens = added;
    this.vocabSize = this.textVocabSize + added.length;
    this.#special = new Uint8Array(this.vocabSize);
    this.#idsByContent = new Map();
    for (const token of added) {
      this.#binary[token.id] = utf8Binary(token.content);
      this.#special[token.id] = token.special ? 1 : 0;
      this.#idsByContent.set(token.content, token.id);
    }

    const lookup = (content: string): number => {
      const id = this.#idsByContent.get(content);
      if (id === undefined) throw loadError(`tokenizer.json: the vocabulary has no ${content} token`);
      return id;
    };
    const optional = (content: string): number | undefined => this.#idsByContent.get(content);
    this.specialIds = {
      endOfText: lookup(REQUIRED_SPECIALS.endOfText),
      imStart: lookup(REQUIRED_SPECIALS.imStart),
      imEnd: lookup(REQUIRED_SPECIALS.imEnd),
      visionStart: lookup(REQUIRED_SPECIALS.visionStart),
      visionEnd: lookup(REQUIRED_SPECIALS.visionEnd),
      imagePad: lookup(REQUIRED_SPECIALS.imagePad),
      videoPad: optional('<|video_pad|>'),
      visionPad: optional('<|vision_pad|>'),
    };
    const eos = tokenName(config.eos_token);
    const pad = tokenName(config.pad_token);
    this.eosTokenId = eos === undefined ? this.specialIds.imEnd : lookup(eos);
    this.padTokenId = pad === undefined ? this.specialIds.endOfText : lookup(pad);
    this.chatTemplate = typeof config.chat_template === 'string' ? config.chat_template : undefined;

    try {
      this.#hf = new HfTokenizer(tokenizerJson, config);
    } catch (err) {
      throw loadError(`tokenizer.json could not be parsed: ${(err as Error).message}`, err);
    }
  }

  /** Builds a tokenizer from parsed tokenizer.json and tokenizer_config.json objects. */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig: unknown): QwenTokenizer {
    if (!isRecord(tokenizerJson)) throw loadError('tokenizer.json must hold a JSON object');
    if (!isRecord(tokenizerConfig)) throw loadError('tokenizer_config.json must hold a JSON object');
    return new QwenTokenizer(tokenizerJson, tokenizerConfig);
  }

  /** Loads `tokenizer.json` and `tokenizer_config.json` from a directory (a bundle's `llm/`). */
  static async load(dir: string): Promise<QwenTokenizer> {
    const read = async (name: string): Promise<unknown> => {
      const path = join(dir, name);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw loadError(`cannot read ${path}: ${(err as Error).message}`, err);
      }
      try {
        return JSON.parse(text);
      } catch (err) {
        throw loadError(`${path} is not valid JSON: ${(err as Error).message}`, err);
      }
    };
    const [json, config] = await Promise.all([read('tokenizer.json'), read('tokenizer_config.json')]);
    return QwenTokenizer.fromJSON(json, config);
  }

  /**
   * Token ids of `text`. Added tokens written in the text (`<|im_start|>`, `<|image_pad|>` …) become
   * their single ids; everything else goes through NFC, the Qwen pre-tokenizer and BPE.
   */
  encode(text: string): number[] {
    return this.#hf.encode(text, { add_special_tokens: false }).ids;
  }

  /** Text of `ids`. With `skipSpecialTokens`, special added tokens are dropped. */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    return this.#hf.decode(Array.from(ids), { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** The bytes a token id stands for (an added token: its UTF-8 content). */
  tokenBytes(id: number): Uint8Array {
    return binaryToBytes(this.tokenBinary(id));
  }

  /** The bytes of a token id as a binary string (one char per byte); for the grammar compiler. */
  tokenBinary(id: number): string {
    const binary = this.#binary[id];
    if (binary === undefined) {
      throw new TrtVlaError('ERR_INVALID_ARGUMENT', `Expected a token id between 0 and ${this.vocabSize - 1} but received ${id}`);
    }
    return binary;
  }

  /** Whether `id` is a special added token (dropped by decode with skipSpecialTokens). */
  isSpecial(id: number): boolean {
    return this.#special[id] === 1;
  }

  /** Id of an added token by its content (`<|im_end|>`), or undefined. */
  addedTokenId(content: string): number | undefined {
    return this.#idsByContent.get(content);
  }

  /** A detokenizer for streamed ids that emits only complete characters. */
  createDetokenizer(options: DetokenizerOptions = {}): StreamingDetokenizer {
    return new StreamingDetokenizer(this, options);
  }
}
