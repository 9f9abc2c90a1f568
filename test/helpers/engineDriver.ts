// Drives the CPU LLM engine through its Edge-LLM tensor contract from TypeScript, exactly as the host
// pipeline binds it: profile choice, shapes, the in-place fp16 KV cache, rope table, start indices.
import path from 'node:path';
import { readFileSync } from 'node:fs';

import { testingAddon } from '../../lib/native.js';
import { readSafetensors } from './safetensors.js';

export interface EngineTensor {
  name: string;
  dtype: string;
  shape: number[];
  mode: 'input' | 'output';
}

export interface NativeContext {
  setOptimizationProfile(profile: number): void;
  setInputShape(name: string, dims: number[]): void;
  setTensorAddress(name: string, array: ArrayBufferView): void;
  tensorShape(name: string): number[];
  enqueue(): void;
}

export interface NativeEngine {
  tensors(): EngineTensor[];
  profileShapes(name: string, profile: number): { min: number[]; opt: number[]; max: number[] };
  createContext(): NativeContext;
  dispose(): void;
  readonly weightBytes: number;
  /** CPU LLM engines: the LM head's storage as loaded ('q8', 'fp16', ...). */
  readonly lmHead?: string;
  readonly threads: number;
  /** Optimization profiles. */
  readonly profiles: number;
}

interface EngineLoaders {
  loadCpuLlmEngine(spec: object): Promise<NativeEngine>;
  loadCpuVisionEngine(spec: object): Promise<NativeEngine>;
}

export function engineLoaders(): EngineLoaders {
  return testingAddon() as EngineLoaders;
}

export interface TextDims {
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  intermediateSize: number;
  rmsNormEps: number;
}

export function textDims(dir: string): TextDims {
  const c = JSON.parse(readFileSync(path.join(dir, 'llm', 'config.json'), 'utf8'));
  return {
    hiddenSize: c.hidden_size,
    layers: c.num_hidden_layers,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads,
    headDim: c.head_dim,
    vocabSize: c.vocab_size,
    intermediateSize: c.intermediate_size,
    rmsNormEps: c.rms_norm_eps,
  };
}

/**
 * Loads the CPU LLM engine of a model folder. lmHead defaults to 'fp16' (the head as stored), so that
 * tests comparing logits with float64 references or with each other see the exact head; the engine's
 * own default ('auto': int8 for AWQ models) is tested where it is the subject.
 */
export async function loadLlm(
  dir: string,
  opts: {
    threads?: number;
    maxKvCapacity?: number;
    maxInputLength?: number;
    maxBatch?: number;
    vocabMap?: number[];
    lmHead?: 'auto' | 'fp16' | 'q8';
    /** > 0: the EAGLE-base interface (tree decoding of up to this many tokens in profile 1). */
    maxVerifyTreeSize?: number;
  } = {},
): Promise<NativeEngine> {
  const llm = path.join(dir, 'llm');
  return engineLoaders().loadCpuLlmEngine({
    config: readFileSync(path.join(llm, 'config.json'), 'utf8'),
    configName: 'llm/config.json',
    weightFiles: [path.join(llm, 'model.safetensors')],
    embeddingFile: path.join(llm, 'embedding.safetensors'),
    limits: {
      maxBatch: opts.maxBatch ?? 2,
      maxInputLength: opts.maxInputLength ?? 256,
      maxKvCapacity: opts.maxKvCapacity ?? 256,
      maxVerifyTreeSize: opts.maxVerifyTreeSize ?? 0,
    },
    threads: opts.threads,
    vocabMap: opts.vocabMap,
    lmHead: opts.lmHead ?? 'fp16',
  });
}

const embeddingTables = new Map<string, Uint16Array>();

/** A model's embedding table (fp16), read once per folder: tests embed a few tokens many times. */
function embeddingTable(dir: string): Uint16Array {
  let table = embeddingTables.get(dir);
  if (!table) {
    const tensor = readSafetensors(path.join(dir, 'llm', 'embedding.safetensors')).get('embedding')!;
    table = new Uint16Array(tensor.bytes.buffer.slice(tensor.bytes.byteOffset, tensor.bytes.byteOffset + tensor.bytes.byteLength));
    embeddingTables.set(dir, table);
  }
  return table;
}

/** Embedding rows (fp16) of token ids, read from embedding.safetensors. */
export function embedTokens(dir: string, ids: number[], hidden: number): Uint16Array {
  const rows = new Uint16Array(ids.length * hidden);
  const src = embeddingTable(dir);
  ids.forEach((id, i) => rows.set(src.subarray(id * hidden, (id + 1) * hidden), i * hidden));
  return rows;
}

/** Plain 1-D RoPE table [cap][headDim] (cos half, sin half), theta 1e6: all M-RoPE sections equal. */
export function textRopeTable(cap: number, headDim: number, theta = 1e6, offset = 0): Float32Array {
  const half = headDim / 2;
  const table = new Float32Array(cap * headDim);
  for (let p = 0; p < cap; p++) {
    for (let i = 0; i < half; i++) {
      const angle = (p + offset) / theta ** ((2 * i) / headDim);
      table[p * headDim + i] = Math.cos(angle);
      table[p * headDim + half + i] = Math.sin(angle);
    }
  }
  return table;
}

/** One sequence (or a batch) bound to an LLM engine context with its own KV cache. */
export class LlmSession {
  readonly context: NativeContext;
  readonly kv: Uint16Array[];
  readonly rope: Float32Array;
  private readonly dummy = new Int32Array(1);

  constructor(
    readonly engine: NativeEngine,
    readonly dims: TextDims,
    readonly capacity: number,
    readonly batch = 1,
    rope?: Float32Array,
  ) {
    this.context = engine.createContext();
    this.kv = Array.from({ length: dims.layers }, () => new Uint16Array(batch * 2 * dims.kvHeads * capacity * dims.headDim));
    this.rope = rope ?? textRopeTable(capacity, dims.headDim);
  }

  /**
   * One engine call. embeds [B][S][H] fp16; lengths[b] = new tokens (prefill) or committed + 1 (decode);
   * starts = committed KV lengths, or undefined for a fresh prefill. Returns logits [B][1][vocab] (rank 3, as
   * Edge-LLM's engines; flat, so row b starts at b * vocab).
   */
  run(
    embeds: Uint16Array,
    seqLen: number,
    lengths: number[],
    starts: number[] | undefined,
    lastIds: number[],
    profile?: number,
    tree?: { positions: number[]; mask: Int32Array; maskWords: number },
  ): Float32Array {
    const d = this.dims;
    const B = lengths.length;
    const ctx = this.context;
    const selected = lastIds.length / B;
    ctx.setOptimizationProfile(profile ?? (starts && seqLen === 1 ? 1 : 0));
    ctx.setInputShape('inputs_embeds', [B, seqLen, d.hiddenSize]);
    ctx.setTensorAddress('inputs_embeds', embeds);
    ctx.setInputShape('context_lengths', [B]);
    ctx.setTensorAddress('context_lengths', Int32Array.from(lengths));
    ctx.setInputShape('last_token_ids', [B, selected]);
    ctx.setTensorAddress('last_token_ids', BigInt64Array.from(lastIds.map(BigInt)));
    if (starts) {
      ctx.setInputShape('kvcache_start_index', [B]);
      ctx.setTensorAddress('kvcache_start_index', Int32Array.from(starts));
    } else {
      ctx.setInputShape('kvcache_start_index', [0]);
      ctx.setTensorAddress('kvcache_start_index', this.dummy);
    }
    const hiddenStates = this.engine.tensors().find((t) => t.name === 'hidden_states');
    if (hiddenStates) {
      // EAGLE-base engines: the tree inputs (dummies [B, 1, 1] / [B, 1] outside tree decoding, as Edge-LLM
      // binds them in prefill) and the hidden_states output.
      ctx.setInputShape('attention_mask', tree ? [B, seqLen, tree.maskWords] : [B, 1, 1]);
      ctx.setTensorAddress('attention_mask', tree ? tree.mask : new Int32Array(B).fill(1));
      ctx.setInputShape('attention_pos_id', tree ? [B, seqLen] : [B, 1]);
      ctx.setTensorAddress('attention_pos_id', tree ? Int32Array.from(tree.positions) : Int32Array.from(starts ?? new Array(B).fill(0)));
      ctx.setTensorAddress('hidden_states', new Uint16Array(B * seqLen * hiddenStates.shape[2]!));
    }
    ctx.setInputShape('rope_rotary_cos_sin', [1, this.capacity, d.headDim]);
    ctx.setTensorAddress('rope_rotary_cos_sin', this.rope);
    for (let l = 0; l < d.layers; l++) {
      ctx.setInputShape(`past_key_values_${l}`, [B, 2, d.kvHeads, this.capacity, d.headDim]);
      ctx.setTensorAddress(`past_key_values_${l}`, this.kv[l]!);
      ctx.setTensorAddress(`present_key_values_${l}`, this.kv[l]!);
    }
    // vocab_size, or the reduced vocabulary's size (engines loaded with a vocabulary map): the last of the
    // logits' [B, num_tokens, V].
    const logitsShape = this.engine.tensors().find((t) => t.name === 'logits')!.shape;
    const width = logitsShape[logitsShape.length - 1]!;
    const logits = new Float32Array(B * selected * width);
    ctx.setTensorAddress('logits', logits);
    ctx.enqueue();
    const shape = ctx.tensorShape('logits');
    if (shape.length !== 3 || shape[0] !== B || shape[1] !== selected || shape[2] !== width) {
      throw new Error(`logits shape ${JSON.stringify(shape)}, expected [${B}, ${selected}, ${width}]`);
    }
    return logits;
  }

  /**
   * Speculative verification of one sequence, as Edge-LLM 0.6.1 binds an EAGLE-base engine's tree step
   * (cpp/runtime/llmEngineRunner.cpp:1500-1664): profile 1, S tokens after `committed`, context_lengths =
   * committed + S, a linear-chain packed mask (bit j of row i set for j <= i, eagleUtilKernels.cu:100-113)
   * unless one is given, attention_pos_id = committed + depth, logits of the rows `selected` (default all).
   */
  verify(embeds: Uint16Array, tokens: number, committed: number, options: { selected?: number[]; mask?: boolean[][] } = {}): Float32Array {
    const words = Math.ceil(tokens / 32);
    const mask = new Int32Array(tokens * words);
    const positions: number[] = [];
    for (let i = 0; i < tokens; i++) {
      let attended = 0;
      for (let j = 0; j <= i; j++) {
        if (options.mask ? options.mask[i]![j] : true) {
          mask[i * words + (j >> 5)]! |= 1 << (j & 31);
          attended++;
        }
      }
      positions.push(committed + attended - 1);
    }
    const selected = options.selected ?? Array.from({ length: tokens }, (_, i) => i);
    return this.run(embeds, tokens, [committed + tokens], [committed], selected, 1, { positions, mask, maskWords: words });
  }

  /** Fresh prefill of one sequence; logits of its last token. */
  prefill(embeds: Uint16Array, tokens: number): Float32Array {
    return this.run(embeds, tokens, [tokens], undefined, [tokens - 1]);
  }

  /** Appends tokens after `committed` cached positions (chunked prefill, or decode when one token). */
  append(embeds: Uint16Array, tokens: number, committed: number): Float32Array {
    return tokens === 1 ? this.run(embeds, 1, [committed + 1], [committed], [0]) : this.run(embeds, tokens, [tokens], [committed], [tokens - 1]);
  }
}

export function argmax(values: ArrayLike<number>, begin = 0, end = values.length): number {
  let best = begin;
  for (let i = begin + 1; i < end; i++) if (values[i]! > values[best]!) best = i;
  return best - begin;
}
