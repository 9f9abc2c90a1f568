/**
 * A Qwen2-architecture GGUF with seeded random weights and the shapes of one of our presets' text
 * decoders: what llama.cpp needs to run "the same model" as our CPU engine in `bench:vs-llama`.
 *
 * It mirrors what `convert_hf_to_gguf.py` + `llama-quantize <f16.gguf> Q4_0` produce for a Qwen2.5
 * checkpoint with tied embeddings:
 * - metadata: `general.architecture` "qwen2", the `qwen2.*` hyperparameters llama.cpp's qwen2 loader
 *   reads, `general.file_type` 2 (MOSTLY_Q4_0), `general.quantization_version` 2, and the GPT-2-style
 *   BPE tokenizer (`tokenizer.ggml.model` "gpt2", pre-tokenizer "qwen2", tokens, token types, merges,
 *   special ids, chat template) taken from a Qwen tokenizer.json, padded to the embedding rows with
 *   `[PAD<id>]` tokens of type UNUSED as the converter does;
 * - tensors: every decoder linear layer Q4_0; q/k/v biases and the RMSNorm weights F32; the token
 *   embedding (which llama.cpp also uses as the LM head, there being no `output.weight`) Q6_K — the
 *   type llama-quantize gives the tied embedding of a Q4_0 model — or Q8_0 when the hidden size is
 *   not a multiple of Q6_K's 256-element block (its fallback; e.g. 0.5B's 896 and `tiny`'s 128).
 *
 * Weights are random codes with trained-like scales (see gguf.ts): the numbers llama.cpp computes
 * are meaningless, its speed is not affected.
 */
import { QWEN25VL_TOKEN_IDS } from '../model/generate.js';
import type { TextDims } from '../model/presets.js';
import { QWEN25VL_CHAT_TEMPLATE } from '../tokenizer/qwenFiles.js';
import {
  GgmlType,
  gguf,
  ggmlTypeName,
  randomF32,
  randomQ4_0,
  randomQ6_K,
  randomQ8_0,
  tensorSeed,
  writeGguf,
  type GgmlTypeId,
  type GgufTensor,
  type GgufValue,
} from './gguf.js';

/** llama_token_type (llama.h) values used in `tokenizer.ggml.token_type`. */
const TokenType = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 } as const;

/** LLAMA_FTYPE_MOSTLY_Q4_0. */
const FILE_TYPE_Q4_0 = 2;

// Same scales as the safetensors generator (lib/model/generate.ts): embedding rows ~0.05, biases
// ~0.02, linear layers 1/sqrt(in), residual-stream projections further / sqrt(2 * layers).
const EMBEDDING_STD = 0.05;
const BIAS_STD = 0.02;

export interface Qwen2GgufOptions {
  /** Decoder dimensions (a preset's `text`). */
  dims: TextDims;
  /** A parsed Qwen tokenizer.json (BPE `model.vocab` + `model.merges`, `added_tokens`). */
  tokenizer: Record<string, unknown>;
  /** Random seed. Default 1. */
  seed?: number;
  /** `general.name`. */
  name?: string;
  /** `qwen2.context_length` (the trained context). Default 32768, as Qwen2.5's config. */
  contextLength?: number;
}

/** The tied token embedding's type for a Q4_0 file of hidden size `hidden` (see the file comment). */
export function tokenEmbeddingType(hidden: number): GgmlTypeId {
  return hidden % 256 === 0 ? GgmlType.Q6_K : GgmlType.Q8_0;
}

interface HfAddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/** The `tokenizer.*` metadata of a Qwen tokenizer.json, padded to `vocabSize` entries. */
export function qwenTokenizerMetadata(tokenizer: Record<string, unknown>, vocabSize: number): [string, GgufValue][] {
  const model = tokenizer.model as { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] } | undefined;
  if (model?.type !== 'BPE' || !model.vocab || !Array.isArray(model.merges)) throw new Error('tokenizer.json: expected a BPE model with vocab and merges');
  const tokens = new Array<string | undefined>(vocabSize);
  const types = new Int32Array(vocabSize);
  for (const [token, id] of Object.entries(model.vocab)) {
    if (id >= vocabSize) throw new Error(`tokenizer.json: token id ${id} does not fit ${vocabSize} embedding rows`);
    tokens[id] = token;
    types[id] = TokenType.NORMAL;
  }
  for (const added of (tokenizer.added_tokens ?? []) as HfAddedToken[]) {
    if (added.id >= vocabSize) throw new Error(`tokenizer.json: added token id ${added.id} does not fit ${vocabSize} embedding rows`);
    tokens[added.id] = added.content;
    // Like the HF converter: special tokens, and added tokens that look like `<|...|>`, are control
    // tokens; other added tokens (`<tool_call>`) are user-defined.
    const looksSpecial = added.content.startsWith('<|') && added.content.endsWith('|>');
    types[added.id] = added.special || looksSpecial ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  const filled = Array.from(tokens, (token, id) => {
    if (token !== undefined) return token;
    types[id] = TokenType.UNUSED;
    return `[PAD${id}]`;
  });
  const merges = model.merges.map((m) => (typeof m === 'string' ? m : m.join(' ')));
  return [
    ['tokenizer.ggml.model', gguf.string('gpt2')],
    ['tokenizer.ggml.pre', gguf.string('qwen2')],
    ['tokenizer.ggml.tokens', gguf.strings(filled)],
    ['tokenizer.ggml.token_type', gguf.i32s(types)],
    ['tokenizer.ggml.merges', gguf.strings(merges)],
    ['tokenizer.ggml.eos_token_id', gguf.u32(QWEN25VL_TOKEN_IDS.imEnd)],
    ['tokenizer.ggml.padding_token_id', gguf.u32(QWEN25VL_TOKEN_IDS.endOfText)],
    ['tokenizer.ggml.bos_token_id', gguf.u32(QWEN25VL_TOKEN_IDS.endOfText)],
    ['tokenizer.ggml.add_bos_token', gguf.bool(false)],
    ['tokenizer.chat_template', gguf.string(QWEN25VL_CHAT_TEMPLATE)],
  ];
}

/** Metadata and tensors of the file, in the order the HF converter writes them. */
export function qwen2GgufPlan(options: Qwen2GgufOptions): { metadata: [string, GgufValue][]; tensors: GgufTensor[] } {
  const t = options.dims;
  const seed = options.seed ?? 1;
  if (t.heads * t.headDim !== t.hiddenSize) {
    // llama.cpp's qwen2 loader shapes attn_q / attn_output as [hidden, hidden].
    throw new Error(`qwen2 GGUF: heads x head_dim (${t.heads} x ${t.headDim}) must equal the hidden size ${t.hiddenSize}`);
  }
  const metadata: [string, GgufValue][] = [
    ['general.architecture', gguf.string('qwen2')],
    ['general.type', gguf.string('model')],
    ['general.name', gguf.string(options.name ?? 'trt-vla random qwen2')],
    ['qwen2.block_count', gguf.u32(t.layers)],
    ['qwen2.context_length', gguf.u32(options.contextLength ?? 32768)],
    ['qwen2.embedding_length', gguf.u32(t.hiddenSize)],
    ['qwen2.feed_forward_length', gguf.u32(t.intermediateSize)],
    ['qwen2.attention.head_count', gguf.u32(t.heads)],
    ['qwen2.attention.head_count_kv', gguf.u32(t.kvHeads)],
    ['qwen2.rope.freq_base', gguf.f32(t.ropeTheta)],
    ['qwen2.attention.layer_norm_rms_epsilon', gguf.f32(t.rmsNormEps)],
    ['general.file_type', gguf.u32(FILE_TYPE_Q4_0)],
    ...qwenTokenizerMetadata(options.tokenizer, t.vocabSize),
    ['general.quantization_version', gguf.u32(2)],
  ];

  const tensors: GgufTensor[] = [];
  const q4 = (name: string, inFeatures: number, out: number, residual = 1): void => {
    const std = 1 / Math.sqrt(inFeatures) / Math.sqrt(residual);
    tensors.push({ name, type: GgmlType.Q4_0, ne: [inFeatures, out], source: () => randomQ4_0(tensorSeed(seed, name), std) });
  };
  const f32 = (name: string, n: number, mean: number, std: number): void => {
    tensors.push({ name, type: GgmlType.F32, ne: [n], source: () => randomF32(tensorSeed(seed, name), mean, std) });
  };
  const embType = tokenEmbeddingType(t.hiddenSize);
  const embFill = embType === GgmlType.Q6_K ? randomQ6_K : randomQ8_0;
  tensors.push({
    name: 'token_embd.weight',
    type: embType,
    ne: [t.hiddenSize, t.vocabSize],
    source: () => embFill(tensorSeed(seed, 'token_embd.weight'), EMBEDDING_STD),
  });
  const kv = t.kvHeads * t.headDim;
  const residual = 2 * t.layers;
  for (let l = 0; l < t.layers; l++) {
    const p = `blk.${l}`;
    f32(`${p}.attn_norm.weight`, t.hiddenSize, 1, 0);
    q4(`${p}.attn_q.weight`, t.hiddenSize, t.hiddenSize);
    f32(`${p}.attn_q.bias`, t.hiddenSize, 0, BIAS_STD);
    q4(`${p}.attn_k.weight`, t.hiddenSize, kv);
    f32(`${p}.attn_k.bias`, kv, 0, BIAS_STD);
    q4(`${p}.attn_v.weight`, t.hiddenSize, kv);
    f32(`${p}.attn_v.bias`, kv, 0, BIAS_STD);
    q4(`${p}.attn_output.weight`, t.hiddenSize, t.hiddenSize, residual);
    f32(`${p}.ffn_norm.weight`, t.hiddenSize, 1, 0);
    q4(`${p}.ffn_gate.weight`, t.hiddenSize, t.intermediateSize);
    q4(`${p}.ffn_up.weight`, t.hiddenSize, t.intermediateSize);
    q4(`${p}.ffn_down.weight`, t.intermediateSize, t.hiddenSize, residual);
  }
  f32('output_norm.weight', t.hiddenSize, 1, 0);
  return { metadata, tensors };
}

export interface Qwen2GgufResult {
  file: string;
  fileBytes: number;
  /** Type of the tied token embedding / LM head ('Q6_K' or 'Q8_0'). */
  tokenEmbeddingType: string;
  /**
   * Weight bytes one decode step streams: every tensor once (the embedding as the LM head; its
   * one-row lookup is negligible).
   */
  weightBytesPerToken: number;
}

/** Writes the GGUF to `file` (streaming; complete or absent). */
export async function writeQwen2Gguf(file: string, options: Qwen2GgufOptions): Promise<Qwen2GgufResult> {
  const { metadata, tensors } = qwen2GgufPlan(options);
  const written = await writeGguf(file, metadata, tensors);
  let weightBytesPerToken = 0;
  for (const bytes of written.tensorBytes.values()) weightBytesPerToken += bytes;
  return {
    file,
    fileBytes: written.fileBytes,
    tokenEmbeddingType: ggmlTypeName(tokenEmbeddingType(options.dims.hiddenSize)),
    weightBytesPerToken,
  };
}
