/**
 * The main-thread face of the tokenizer: a worker thread owns the Qwen tokenizer (tokenizerWorker.ts)
 * and answers encode / chat / grammar requests asynchronously, so loading and compiling never block
 * the event loop. The vocabulary's bytes are copied here once, so streamed tokens are detokenized on
 * the main thread without a round trip.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import type { CompiledGrammar, CompileGrammarOptions } from '../action/grammarCompiler.js';
import type { DrafterTokenSpec } from '../action/waypointDrafterSpec.js';
import { TrtVlaError, type TrtVlaErrorCode } from '../errors.js';
import { packageRoot } from '../native.js';
import type { ChatMessage, ChatPromptOptions, EncodedChatPrompt } from './chatTemplate.js';
import type { SpecialTokenIds } from './QwenTokenizer.js';
import { StreamingDetokenizer, type DetokenizerOptions, type DetokenizerVocabulary } from './StreamingDetokenizer.js';
import type { TokenizerReady, TokenizerRequest } from './tokenizerWorker.js';

type Pending = { resolve: (value: unknown) => void; reject: (err: unknown) => void };
type RequestBody = TokenizerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class TokenizerHost implements DetokenizerVocabulary {
  readonly vocabSize: number;
  readonly textVocabSize: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly specialIds: SpecialTokenIds;
  readonly #worker: Worker;
  readonly #offsets: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #special: Uint8Array;
  readonly #binaries: (string | undefined)[];
  readonly #pending = new Map<number, Pending>();
  readonly #grammars = new Map<string, Promise<CompiledGrammar>>();
  readonly #drafterTokens = new Map<string, Promise<DrafterTokenSpec>>();
  #nextId = 1;
  #closed = false;

  private constructor(worker: Worker, ready: TokenizerReady) {
    this.#worker = worker;
    this.vocabSize = ready.vocabSize;
    this.textVocabSize = ready.textVocabSize;
    this.eosTokenId = ready.eosTokenId;
    this.padTokenId = ready.padTokenId;
    this.specialIds = ready.specialIds;
    this.#offsets = ready.offsets;
    this.#bytes = ready.bytes;
    this.#special = ready.special;
    this.#binaries = new Array(ready.vocabSize);
    worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: { code: string; message: string } }) => {
      const pending = this.#pending.get(m.id);
      if (!pending) return;
      this.#pending.delete(m.id);
      if (m.ok) pending.resolve(m.result);
      else pending.reject(new TrtVlaError(m.error!.code as TrtVlaErrorCode, m.error!.message));
    });
    worker.on('error', (err) => this.#failAll(err));
    worker.on('exit', () => this.#failAll(new TrtVlaError('ERR_DISPOSED', 'The tokenizer was disposed')));
  }

  /** Starts the tokenizer thread on a folder with tokenizer.json / tokenizer_config.json. */
  static async load(dir: string): Promise<TokenizerHost> {
    const file = path.join(packageRoot, 'dist', 'tokenizer', 'tokenizerWorker.js');
    // execArgv: [] — the thread must not inherit the parent's Node flags: `node --input-type=module -e`
    // would make it refuse its own file, and --inspect-style flags would clash with the parent's.
    const worker = new Worker(file, { workerData: { dir }, execArgv: [] });
    const ready = await new Promise<TokenizerReady>((resolve, reject) => {
      const onMessage = (m: TokenizerReady | { type: 'failed'; error: { code: string; message: string } }) => {
        worker.off('error', onError);
        if (m.type === 'ready') resolve(m);
        else reject(new TrtVlaError(m.error.code as TrtVlaErrorCode, m.error.message));
      };
      const onError = (err: unknown) => reject(new TrtVlaError('ERR_MODEL_LOAD', `the tokenizer thread failed: ${String(err)}`, { cause: err }));
      worker.once('message', onMessage);
      worker.once('error', onError);
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    // The worker must not keep the process alive on its own.
    worker.unref();
    return new TokenizerHost(worker, ready);
  }

  /** Bytes of a token as a binary string (one char per byte), as the detokenizer and grammar use. */
  tokenBinary(id: number): string {
    let s = this.#binaries[id];
    if (s === undefined) {
      const bytes = this.#bytes.subarray(this.#offsets[id], this.#offsets[id + 1]);
      s = String.fromCharCode(...bytes);
      this.#binaries[id] = s;
    }
    return s;
  }

  isSpecial(id: number): boolean {
    return this.#special[id] === 1;
  }

  createDetokenizer(options: DetokenizerOptions = {}): StreamingDetokenizer {
    return new StreamingDetokenizer(this, options);
  }

  /** Text of ids (on the main thread, from the copied vocabulary). */
  decode(ids: ArrayLike<number>, options: DetokenizerOptions = {}): string {
    const d = this.createDetokenizer(options);
    return d.pushAll(ids) + d.flush();
  }

  /** Text of ids, decoded on the tokenizer thread: for long inputs (a prompt), where decode() would block. */
  decodeOffThread(ids: Int32Array, options: DetokenizerOptions = {}): Promise<string> {
    return this.#request({ type: 'decode', ids, skipSpecialTokens: options.skipSpecialTokens ?? false }) as Promise<string>;
  }

  encode(text: string): Promise<Int32Array> {
    return this.#request({ type: 'encode', text }) as Promise<Int32Array>;
  }

  encodeChat(messages: ChatMessage[], options: ChatPromptOptions = {}): Promise<EncodedChatPrompt> {
    return this.#request({ type: 'encodeChat', messages, options }) as Promise<EncodedChatPrompt>;
  }

  /** The answer grammar of a format and mode, compiled once per tokenizer. */
  compileGrammar(options: CompileGrammarOptions): Promise<CompiledGrammar> {
    const key = `${typeof options.format === 'string' ? options.format : JSON.stringify(options.format)}|${options.mode ?? 'fast'}`;
    let grammar = this.#grammars.get(key);
    if (!grammar) {
      grammar = this.#request({ type: 'compileGrammar', options }) as Promise<CompiledGrammar>;
      grammar.catch(() => this.#grammars.delete(key));
      this.#grammars.set(key, grammar);
    }
    return grammar;
  }

  /**
   * The tokenizer's part of the native waypoint drafter's spec for the grammar of these options
   * (lib/action/waypointDrafterSpec.ts buildDrafterTokenSpec), computed once on the tokenizer thread;
   * waypointDrafterSpec(tokens, history) completes it per request.
   */
  drafterTokens(options: CompileGrammarOptions): Promise<DrafterTokenSpec> {
    const key = `${typeof options.format === 'string' ? options.format : JSON.stringify(options.format)}|${options.mode ?? 'fast'}`;
    let tokens = this.#drafterTokens.get(key);
    if (!tokens) {
      tokens = this.#request({ type: 'drafterTokens', options }) as Promise<DrafterTokenSpec>;
      tokens.catch(() => this.#drafterTokens.delete(key));
      this.#drafterTokens.set(key, tokens);
    }
    return tokens;
  }

  async dispose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#worker.terminate();
  }

  #request(body: RequestBody): Promise<unknown> {
    if (this.#closed) return Promise.reject(new TrtVlaError('ERR_DISPOSED', 'The tokenizer was disposed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      // A value structured cloning cannot copy must not leave the request pending (and the worker
      // ref'd, keeping the process alive): it fails here, before anything is registered.
      try {
        this.#worker.postMessage({ ...body, id });
      } catch (err) {
        reject(new TrtVlaError('ERR_INVALID_ARGUMENT', `The tokenizer request cannot be sent to its thread: ${(err as Error).message}`, { cause: err }));
        return;
      }
      this.#pending.set(id, { resolve, reject });
      // Keep the process alive while a request is outstanding.
      this.#worker.ref();
    }).finally(() => {
      if (this.#pending.size === 0 && !this.#closed) this.#worker.unref();
    });
  }

  #failAll(err: unknown): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}
