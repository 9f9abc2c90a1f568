/** @internal What sessions share of a loaded model: native handle, tokenizer, grammars, defaults. */
import { TrtVlaError } from '../errors.js';
import { FrameBuffer } from '../frame.js';
import { native, type NativeGrammar, type NativeModel } from '../native.js';
import type { PlanningMode } from '../prompt/answerSpec.js';
import type { PlanningFormat } from '../prompt/formats.js';
import type { TokenizerHost } from '../tokenizer/TokenizerHost.js';
import { modelWarnings, type ModelFiles } from './bundle.js';
import type { SamplingOptions } from './modelConfig.js';
import type { SpeculationState } from './speculation.js';

export class ModelCore {
  readonly #grammars = new Map<string, Promise<NativeGrammar>>();
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
