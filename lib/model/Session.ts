/**
 * A Session owns an execution context, a KV cache and a prefix cache on the native side, and runs one
 * request at a time (further requests wait their turn). Concurrent plans need separate sessions.
 */
import { checkFeasibility } from '../action/feasibility.js';
import { parsePlanning } from '../action/parsePlanning.js';
import type { PlanningStreamEvent } from '../action/planningTypes.js';
import { WaypointStreamDecoder } from '../action/WaypointStreamDecoder.js';
import { abortError, TrtVlaError, withCallerStack } from '../errors.js';
import type { FrameBuffer } from '../frame.js';
import type { NativeFrame, NativeGenerateResult, NativeSession } from '../native.js';
import { buildPlanningPrompt } from '../prompt/planningPrompt.js';
import type { PlanningPrompt } from '../prompt/answerSpec.js';
import { IMAGE_PLACEHOLDER, type ChatMessage, validateChatMessages } from '../tokenizer/chatTemplate.js';
import { invalidArgument, isObject, optionalBoolean, optionalFunction, optionalInteger, optionalSignal, requireInt32Array, requireOneOf } from '../validate.js';
import { validateSampling } from './modelConfig.js';
import type { ModelCore } from './ModelCore.js';
import type {
  EvaluateRequest,
  EvaluateResult,
  GenerateRequest,
  GenerateResult,
  ImageEmbeddings,
  PlanEvent,
  PlanRequest,
  PlanResult,
  PreparedInput,
  PrepareOptions,
  StopReason,
  Timings,
  TokenEvent,
} from './types.js';

let nextRequestId = 1;

interface Encoded {
  ids: Int32Array;
  /** The prompt text; absent for token input, whose text only prepare() needs (decoded off the main thread). */
  text?: string;
  grids: [number, number, number][];
}

interface RunOptions {
  encoded: Encoded;
  images: FrameBuffer[];
  maxTokens: number;
  sampling: GenerateRequest['sampling'];
  signal: AbortSignal | undefined;
  prefixCache: boolean;
  grammar?: object;
  onTokens?: (ids: Int32Array, forced: boolean) => void;
  started: number;
  testingBias?: TestingBias;
  /** Speculative decoding for this request (plans with the answer grammar, when the model has it on). */
  speculation?: { maxDraft: number; drafter?: object; testingDraftScript?: Int32Array };
}

/**
 * @internal Tests only: generated token i gets `value` added to the logit of `tokens[i]`, so that a
 * random-weight model "prefers" a given answer (comparing constrained with unconstrained decoding).
 */
export interface TestingBias {
  tokens: Int32Array;
  value: number;
}

function timingsOf(r: NativeGenerateResult, started: number): Timings {
  return {
    ...r.timings,
    endToEndMs: performance.now() - started,
    forwardPasses: r.forwardPasses,
    generatedTokens: r.tokens.length,
    forcedTokens: r.forcedTokens,
    verifyCalls: r.verifyCalls,
    draftedTokens: r.draftedTokens,
    acceptedDraftTokens: r.acceptedDraftTokens,
    promptTokens: r.promptTokens,
    cachedPromptTokens: r.cachedPromptTokens,
    imageTokens: r.imageTokens,
  };
}

/** Events produced by a running plan and taken by one async consumer: the plumbing of planStream. */
class EventQueue<T> {
  #items: T[] = [];
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void } | undefined;
  #ended = false;
  #failed = false;
  #error: unknown;

  push(item: T): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter.resolve({ value: item, done: false });
    else this.#items.push(item);
  }

  end(error?: unknown): void {
    this.#ended = true;
    if (error !== undefined) {
      this.#failed = true;
      this.#error = error;
    }
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) this.#settle(waiter.resolve, waiter.reject);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift()!, done: false });
    return new Promise((resolve, reject) => {
      if (this.#ended) this.#settle(resolve, reject);
      else this.#waiter = { resolve, reject };
    });
  }

  #settle(resolve: (r: IteratorResult<T>) => void, reject: (err: unknown) => void): void {
    if (this.#failed) reject(this.#error);
    else resolve({ value: undefined, done: true });
  }
}

export class Session implements AsyncDisposable {
  readonly #core: ModelCore;
  readonly #native: NativeSession;
  #queue: Promise<unknown> = Promise.resolve();
  #running = 0;
  #disposed = false;

  /** @internal Use model.createSession(). */
  constructor(core: ModelCore) {
    this.#core = core;
    this.#native = core.native.createSession();
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Prompt tokens whose KV this session holds for reuse by the next request. */
  get cachedTokens(): number {
    return this.#native.cachedTokens;
  }

  /** Forgets the cached prompt prefix (the next request prefills everything). */
  clearPrefixCache(): void {
    this.#ensureLive();
    this.#native.clearPrefixCache();
  }

  /** Raw generation: messages (chat template), text, or tokens; `<image>` placeholders are expanded. */
  generate(request: GenerateRequest): Promise<GenerateResult> {
    const started = performance.now();
    return this.#exclusive(async () => {
      const r = this.#validateCommon(request);
      const onToken = optionalFunction<(event: TokenEvent) => void>(request.onToken, 'onToken');
      const encoded = await this.#encodeRequest(request, r.images);
      const detok = this.#core.tokenizer.createDetokenizer({ skipSpecialTokens: true });
      const result = await this.#run({
        ...r,
        encoded,
        maxTokens: r.maxTokens ?? 512,
        started,
        onTokens: (ids, forced) => {
          const text = detok.pushAll(ids);
          onToken?.({ type: 'token', ids, text, forced });
        },
      });
      const text = this.#core.tokenizer.decode(result.tokens, { skipSpecialTokens: true });
      return { text, tokens: result.tokens, stopReason: result.stopReason as StopReason, timings: timingsOf(result, started) };
    });
  }

  /** Plans a trajectory: the Impromptu prompt, (constrained) generation, parsed waypoints, feasibility. */
  plan(request: PlanRequest): Promise<PlanResult> {
    return this.#plan(request, undefined);
  }

  /** Like plan, streamed: token, waypoint and reasoning events as they happen, then 'done'. */
  planStream(request: PlanRequest): AsyncIterable<PlanEvent> {
    const queue = new EventQueue<PlanEvent>();
    const controller = new AbortController();
    const outer = request?.signal;
    const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      this.#plan({ ...request, signal }, (event) => queue.push(event)).then(
        (result) => {
          queue.push({ type: 'done', result });
          queue.end();
        },
        (err) => queue.end(err),
      );
    };
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          start();
          return queue.next();
        },
        return: async () => {
          // The consumer stopped early: stop generating.
          controller.abort(new TrtVlaError('ABORT_ERR', 'The plan stream was closed by its consumer'));
          return { value: undefined as never, done: true };
        },
      }),
    };
  }

  /**
   * What the model will see for a request, without running it (prompt, ids, grids, positions; with
   * options: pixels, the vision engine's inputs, the M-RoPE table). Needs no GPU on any backend.
   */
  prepare(request: GenerateRequest | PlanRequest, options: PrepareOptions = {}): Promise<PreparedInput> {
    return this.#exclusive(async () => {
      const r = this.#validateCommon(request);
      if (!isObject(options)) throw invalidArgument('options', 'an object', options);
      const encoded = 'history' in request ? await this.#encodePlan(request as PlanRequest, r.images).then((p) => p.encoded) : await this.#encodeRequest(request as GenerateRequest, r.images);
      const positionIds = this.#core.native.positions(encoded.ids, encoded.grids);
      const promptText = encoded.text ?? (await this.#core.tokenizer.decodeOffThread(encoded.ids));
      const prepared: PreparedInput = { promptText, inputIds: encoded.ids, imageGrids: encoded.grids, positionIds };
      if ((options.pixelValues || options.visionInputs) && r.images.length > 0) {
        const native = await withCallerStack(() => this.#native.prepare(r.images.map((f) => f._native), options.pixelValues === true));
        if (options.pixelValues) prepared.pixelValues = native.pixelValues;
        if (options.visionInputs) {
          const { cuSeqlens, cuWindowSeqlens, windowIndex, reverseWindowIndex, rotaryPosEmb } = native;
          prepared.visionInputs = { cuSeqlens, cuWindowSeqlens, windowIndex, reverseWindowIndex, rotaryPosEmb };
        }
      }
      if (options.ropeTable) prepared.ropeCosSin = this.#core.native.ropeTable(encoded.ids, encoded.grids);
      return prepared;
    });
  }

  /**
   * What the model computes for a request: the logits of chosen prompt positions and of greedy steps
   * after the prompt, in the full vocabulary, on this model's engines (either backend). For checking
   * one backend against another (`trt-vla parity`). Replaces this session's KV cache.
   */
  evaluate(request: EvaluateRequest): Promise<EvaluateResult> {
    return this.#exclusive(async () => {
      const r = this.#validateCommon(request);
      const encoded = await this.#encodeRequest(request, r.images);
      const length = encoded.ids.length;
      const positions = resolvePositions(request.positions, length);
      const steps = optionalInteger(request.steps, 'steps', 0, 1 << 20) ?? 0;
      const forced = request.forcedTokens === undefined ? undefined : toInt32Array(request.forcedTokens, 'forcedTokens');
      if (forced && forced.length > steps) throw invalidArgument('forcedTokens', `at most ${steps} tokens (one per step)`, forced.length);
      const stopAtEndOfTurn = optionalBoolean(request.stopAtEndOfTurn, 'stopAtEndOfTurn') ?? true;
      const imageEmbeddings = optionalBoolean(request.imageEmbeddings, 'imageEmbeddings') ?? false;
      const result = await this.#withAbort(r.signal, (requestId) =>
        this.#native.evaluate({
          inputIds: encoded.ids,
          images: r.images.map((f) => f._native),
          positions: Int32Array.from(positions),
          steps,
          forcedTokens: forced,
          stopTokens: stopAtEndOfTurn ? Int32Array.from(this.#core.stopTokens) : undefined,
          imageEmbeddings,
          requestId,
        }),
      );
      const out: EvaluateResult = {
        promptText: encoded.text ?? (await this.#core.tokenizer.decodeOffThread(encoded.ids)),
        inputIds: encoded.ids,
        imageGrids: encoded.grids,
        positions,
        logits: result.positionLogits,
        tokens: result.tokens,
        stepLogits: result.stepLogits,
      };
      if (imageEmbeddings) out.imageEmbeddings = result.imageEmbeddings ?? [];
      return out;
    });
  }

  /** The vision engine's output for frames, per image, as the language model receives it. */
  encodeImages(frames: FrameBuffer[]): Promise<ImageEmbeddings> {
    return this.#exclusive(async () => {
      const { images } = this.#validateCommon({ images: frames } as GenerateRequest);
      if (images.length === 0) throw invalidArgument('frames', 'at least one FrameBuffer', frames);
      const r = await withCallerStack(() => this.#native.encodeImages(images.map((f) => f._native)));
      return { imageGrids: r.grids, hidden: r.hidden, embeddings: r.embeddings };
    });
  }

  /** Waits for the running request, then frees the native session. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue.catch(() => undefined);
    this.#native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** @internal Requests queued or running. */
  get _busy(): boolean {
    return this.#running > 0;
  }

  // ---------------------------------------------------------------------------------------------

  async #plan(request: PlanRequest, emit: ((event: PlanEvent) => void) | undefined): Promise<PlanResult> {
    const started = performance.now();
    return this.#exclusive(async () => {
      if (!isObject(request)) throw invalidArgument('request', 'an object', request);
      const r = this.#validateCommon(request);
      const constrained = optionalBoolean(request.constrained, 'constrained') ?? true;
      const { prompt, encoded } = await this.#encodePlan(request, r.images);
      const grammar = constrained ? await this.#core.grammar(prompt.format.name, prompt.mode) : undefined;
      // Speculative waypoint decoding: the kinematic drafter needs the grammar (its states) and the history.
      const drafter = !r.speculation && grammar && this.#core.speculation.enabled ? await this.#core.drafterSpec(prompt.format.name, prompt.mode, request.history) : undefined;
      const speculation = r.speculation ?? (drafter ? { maxDraft: this.#core.speculation.maxDraft, drafter } : undefined);
      const decoder = new WaypointStreamDecoder({ format: prompt.format, mode: prompt.mode });
      const detok = this.#core.tokenizer.createDetokenizer({ skipSpecialTokens: true });
      const result = await this.#run({
        ...r,
        encoded,
        grammar,
        speculation,
        started,
        // Room for the whole answer: the slow chain can be long; fast answers are ~150 tokens.
        maxTokens: r.maxTokens ?? (prompt.mode === 'slow' ? 2048 : 256),
        onTokens: emit
          ? (ids, forced) => {
              const text = detok.pushAll(ids);
              const token: TokenEvent = { type: 'token', ids, text, forced };
              emit(token);
              for (const e of decoder.push(text) as PlanningStreamEvent[]) {
                emit(e.type === 'waypoint' ? { type: 'waypoint', index: e.index, waypoint: e.waypoint } : { type: 'reasoning', section: e.section, text: e.text });
              }
            }
          : undefined,
      });
      const text = this.#core.tokenizer.decode(result.tokens, { skipSpecialTokens: true });
      const parsed = parsePlanning(text, { format: prompt.format, mode: prompt.mode });
      let feasibility;
      if (parsed.waypoints.length > 0) {
        try {
          feasibility = checkFeasibility(parsed.waypoints, { history: request.history });
        } catch {
          feasibility = undefined; // not enough motion information for the first step
        }
      }
      return {
        waypoints: [...parsed.waypoints],
        complete: parsed.complete,
        text,
        reasoning: { ...parsed.reasoning },
        diagnostics: parsed.diagnostics,
        feasibility,
        tokens: result.tokens,
        stopReason: result.stopReason as StopReason,
        timings: timingsOf(result, started),
        warnings: [...this.#core.warnings],
      };
    });
  }

  async #encodePlan(request: PlanRequest, images: FrameBuffer[]): Promise<{ prompt: PlanningPrompt; encoded: Encoded }> {
    const format = request.format === undefined ? 'nuscenes' : requireOneOf(request.format, 'format', ['nuscenes', 'q7'] as const);
    const prompt = buildPlanningPrompt({ ...request, views: images.length === 1 ? 1 : 3 });
    if (images.length !== prompt.imageCount) {
      throw invalidArgument('images', `${prompt.imageCount} frame(s) for the ${format} prompt`, images);
    }
    const encoded = await this.#encodeMessages([{ role: 'user', content: prompt.text }], images);
    return { prompt, encoded };
  }

  async #encodeRequest(request: GenerateRequest, images: FrameBuffer[]): Promise<Encoded> {
    const given = ['messages', 'text', 'tokens'].filter((k) => (request as unknown as Record<string, unknown>)[k] !== undefined);
    if (given.length !== 1) throw invalidArgument('request', 'exactly one of messages, text or tokens', given.join(', ') || 'none');
    if (request.messages !== undefined) return this.#encodeMessages(validateChatMessages(request.messages), images);
    const grids = this.#grids(images);
    if (request.text !== undefined) {
      if (typeof request.text !== 'string') throw invalidArgument('text', 'a string', request.text);
      const parts = request.text.split(IMAGE_PLACEHOLDER);
      if (parts.length - 1 !== images.length) {
        throw invalidArgument('images', `${parts.length - 1} frame(s), one per <image> placeholder`, images);
      }
      const t = this.#core.tokenizer.specialIds;
      const pad = this.#core.tokenizer.tokenBinary(t.imagePad);
      const text = parts
        .map((p, i) => (i === 0 ? p : `${tokenText(this.#core, t.visionStart)}${pad.repeat(grids[i - 1]!.reduce((a, b) => a * b, 1) / 4)}${tokenText(this.#core, t.visionEnd)}${p}`))
        .join('');
      return { ids: await this.#core.tokenizer.encode(text), text, grids };
    }
    const tokens = requireInt32Array(request.tokens, 'tokens', 0, this.#core.native.describe().vocabSize - 1, 'a token id');
    // No text here: decoding a long prompt on the main thread would stall the event loop for nothing.
    return { ids: tokens, grids };
  }

  async #encodeMessages(messages: ChatMessage[], images: FrameBuffer[]): Promise<Encoded> {
    const grids = this.#grids(images);
    const encoded = await this.#core.tokenizer.encodeChat(messages, { imageGrids: grids });
    return { ids: encoded.ids, text: encoded.text, grids };
  }

  #grids(images: FrameBuffer[]): [number, number, number][] {
    return images.length ? this.#core.native.imageGrids(images.map((f) => ({ width: f.width, height: f.height }))) : [];
  }

  #validateCommon(request: GenerateRequest | PlanRequest): {
    images: FrameBuffer[];
    maxTokens: number | undefined;
    signal: AbortSignal | undefined;
    sampling: GenerateRequest['sampling'];
    prefixCache: boolean;
    testingBias?: TestingBias;
    speculation?: RunOptions['speculation'];
  } {
    if (!isObject(request)) throw invalidArgument('request', 'an object', request);
    const images = (request.images ?? []) as FrameBuffer[];
    if (!Array.isArray(images)) throw invalidArgument('images', 'an array of FrameBuffers', images);
    images.forEach((f, i) => {
      if (!this.#core.isFrame(f)) throw invalidArgument(`images[${i}]`, 'a FrameBuffer from allocFrame / a pool', f);
      f._native; // throws ERR_DISPOSED for a disposed or released frame
    });
    const maxTokens = optionalInteger(request.maxTokens, 'maxTokens', 1, 1 << 20);
    const signal = optionalSignal(request.signal, 'signal');
    const sampling = validateSampling(request.sampling, 'sampling');
    const prefixCache = optionalBoolean(request.prefixCache, 'prefixCache') ?? true;
    const testingBias = (request as { _testingBias?: TestingBias })._testingBias;
    // Tests only: drafts by answer position instead of the waypoint drafter (native/vla/scripted_drafter.h).
    const script = (request as { _testingDraftScript?: Int32Array })._testingDraftScript;
    const speculation = script && this.#core.speculation.enabled ? { maxDraft: this.#core.speculation.maxDraft, testingDraftScript: script } : undefined;
    return { images, maxTokens, signal, sampling, prefixCache, testingBias, speculation };
  }

  async #run(o: RunOptions): Promise<NativeGenerateResult> {
    const frames: NativeFrame[] = o.images.map((f) => f._native);
    // A token callback that throws stops the request; the request then rejects with that error as cause.
    let callbackFailure: { error: unknown } | undefined;
    let runningRequest = -1;
    const onTokens = (ids: Int32Array, forced: boolean) => {
      if (callbackFailure) return;
      try {
        o.onTokens?.(ids, forced);
      } catch (error) {
        callbackFailure = { error };
        this.#native.abort(runningRequest);
      }
    };
    const callbackError = () =>
      new TrtVlaError('ERR_CALLBACK', `A token callback threw, so the request was stopped: ${String((callbackFailure!.error as Error)?.message ?? callbackFailure!.error)}`, {
        cause: callbackFailure!.error,
      });
    try {
      const result = await this.#withAbort(o.signal, (requestId) => {
        runningRequest = requestId;
        return this.#native.generate(
          {
            inputIds: o.encoded.ids,
            images: frames,
            sampling: { ...this.#core.defaultSampling, ...o.sampling },
            maxNewTokens: o.maxTokens,
            stopTokens: Int32Array.from(this.#core.stopTokens),
            usePrefixCache: o.prefixCache,
            grammar: o.grammar,
            requestId,
            testingBias: o.testingBias,
            vocabLimit: this.#core.tokenizer.vocabSize,
            maxDraft: o.speculation?.maxDraft,
            drafter: o.speculation?.drafter,
            testingDraftScript: o.speculation?.testingDraftScript,
          },
          onTokens,
        );
      });
      // The callback may have thrown on the last tokens, after the native request had finished.
      if (callbackFailure) throw callbackError();
      return result;
    } catch (err) {
      if (callbackFailure) throw err instanceof TrtVlaError && err.code === 'ERR_CALLBACK' ? err : callbackError();
      throw err;
    }
  }

  async #withAbort<T>(signal: AbortSignal | undefined, fn: (requestId: number) => Promise<T>): Promise<T> {
    if (signal?.aborted) throw abortError(signal);
    const requestId = nextRequestId++;
    const onAbort = () => this.#native.abort(requestId);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await withCallerStack(() => fn(requestId));
    } catch (err) {
      if (err instanceof TrtVlaError && err.code === 'ABORT_ERR' && signal) throw abortError(signal);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Runs fn after the previous request of this session finished (one at a time). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#ensureLive();
    this.#running++;
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run.finally(() => this.#running--);
  }

  #ensureLive(): void {
    if (this.#disposed) throw new TrtVlaError('ERR_DISPOSED', 'This Session was disposed');
    this.#core.ensureLive();
  }
}

function tokenText(core: ModelCore, id: number): string {
  return core.tokenizer.tokenBinary(id);
}

/** Prompt positions: negative ones count from the end; returned sorted, without repeats. */
function resolvePositions(positions: number[] | undefined, length: number): number[] {
  if (positions === undefined) return [length - 1];
  if (!Array.isArray(positions)) throw invalidArgument('positions', 'an array of prompt positions', positions);
  const resolved = positions.map((p, i) => {
    if (!Number.isInteger(p) || p >= length || p < -length) throw invalidArgument(`positions[${i}]`, `an integer in [-${length}, ${length - 1}] (the prompt has ${length} tokens)`, p);
    return p < 0 ? length + p : p;
  });
  return [...new Set(resolved)].sort((a, b) => a - b);
}

function toInt32Array(value: unknown, name: string): Int32Array {
  if (value instanceof Int32Array) return value;
  if (Array.isArray(value) && value.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 31)) return Int32Array.from(value as number[]);
  throw invalidArgument(name, 'an Int32Array or an array of token ids', value);
}

