/** @internal What sessions share of a loaded model: native handle, tokenizer, grammars, defaults. */
import { waypointDrafterSpec } from '../action/waypointDrafterSpec.js';
import { TrtVlaError } from '../errors.js';
import { FrameBuffer } from '../frame.js';
import { native, type NativeGrammar, type NativeModel } from '../native.js';
import type { PlanningMode } from '../prompt/answerSpec.js';
import type { EgoHistoryEntry } from '../prompt/egoHistory.js';
import type { PlanningFormat } from '../prompt/formats.js';
import type { TokenizerHost } from '../tokenizer/TokenizerHost.js';
import { modelWarnings, type ModelFiles } from './bundle.js';
import type { SamplingOptions } from './modelConfig.js';
import type { SpeculationState } from './speculation.js';

export class ModelCore {
  readonly #grammars = new Map<string, Promise<NativeGrammar>>();
  /** Formats whose drafter this tokenizer cannot serve (said once, then plans decode without drafts). */
  readonly #drafterRefused = new Set<string>();
  #disposed = false;
  /** Warnings every plan of this model carries (see PlanResult.warnings). */
  readonly warnings: readonly string[];

  constructor(
    readonly native: NativeModel,
    readonly tokenizer: TokenizerHost,
    readonly files: ModelFiles,
    readonly defaultSampling: Required<SamplingOptions>,
    readonly stopTokens: number[],
    readonly speculation: SpeculationState,
  ) {
    this.warnings = Object.freeze(modelWarnings(files));
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  markDisposed(): void {
    this.#disposed = true;
  }

  ensureLive(): void {
    if (this.#disposed) throw new TrtVlaError('ERR_DISPOSED', 'This Model was disposed');
  }

  isFrame(value: unknown): value is FrameBuffer {
    return value instanceof FrameBuffer;
  }

  /**
   * The waypoint drafter's spec for one plan (lib/action/waypointDrafterSpec.ts): the tokenizer's part is
   * computed once per format and mode on the tokenizer thread, the history's per plan. undefined when
   * this tokenizer breaks the drafter's assumptions (digits as single tokens): a warning once, and plans
   * of that format decode without drafts, exactly as before.
   */
  async drafterSpec(format: PlanningFormat, mode: PlanningMode, history: readonly EgoHistoryEntry[]): Promise<object | undefined> {
    const key = `${format}|${mode}`;
    if (this.#drafterRefused.has(key)) return undefined;
    let tokens;
    try {
      tokens = await this.tokenizer.drafterTokens({ format, mode });
    } catch (err) {
      if (err instanceof TrtVlaError && (err.code === 'ERR_DISPOSED' || err.code === 'ABORT_ERR')) throw err;
      this.#drafterRefused.add(key);
      native().logMessage('warning', 'speculation', `no waypoint drafts for ${format} / ${mode} answers with this tokenizer: ${(err as Error)?.message ?? String(err)}`);
      return undefined;
    }
    return waypointDrafterSpec(tokens, history);
  }

  /** The answer grammar of a format and mode, compiled (off the main thread) once per model. */
  grammar(format: PlanningFormat, mode: PlanningMode): Promise<NativeGrammar> {
    const key = `${format}|${mode}`;
    let grammar = this.#grammars.get(key);
    if (!grammar) {
      const GrammarHandle = native().GrammarHandle;
      grammar = this.tokenizer.compileGrammar({ format, mode }).then((automaton) => new GrammarHandle(automaton));
      grammar.catch(() => this.#grammars.delete(key));
      this.#grammars.set(key, grammar);
    }
    return grammar;
  }
}
