/**
 * The Qwen2.5-VL chat prompt as the Impromptu checkpoints were trained on it: LLaMA-Factory's
 * `qwen2_vl` template (default system message "You are a helpful assistant.", ChatML turns) with
 * `<image>` placeholders in the message text, each expanded to `<|vision_start|>` + N ×
 * `<|image_pad|>` + `<|vision_end|>` where N is the image's merged-patch count. This is also what
 * Qwen2.5-VL's own Jinja template renders for string content followed by the processor's pad
 * expansion, so prompts match both training and the reference Python stack.
 */
import { TrtVlaError } from '../errors.js';
import { invalidArgument, isObject } from '../validate.js';
import type { QwenTokenizer } from './QwenTokenizer.js';

/** The image placeholder of LLaMA-Factory / Impromptu data. */
export const IMAGE_PLACEHOLDER = '<image>';
/** System message used when the conversation has none (LLaMA-Factory qwen2_vl and Qwen2.5-VL's template). */
export const DEFAULT_SYSTEM_MESSAGE = 'You are a helpful assistant.';

const IM_START = '<|im_start|>';
const IM_END = '<|im_end|>';
const VISION_START = '<|vision_start|>';
const VISION_END = '<|vision_end|>';
const IMAGE_PAD = '<|image_pad|>';

export type ChatRole = 'system' | 'user' | 'assistant';

/** One chat turn; `content` may hold `<image>` placeholders. */
export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/** An image's patch grid (temporal, height, width) in 14-px patches, as the vision preprocessor reports it. */
export type ImageGrid = readonly [t: number, h: number, w: number];

/** Options of {@link renderChatPrompt} and {@link encodeChatPrompt}. */
export interface ChatPromptOptions {
  /** Patch grid of each image, in placeholder order. Required when the messages hold `<image>`. */
  imageGrids?: readonly ImageGrid[];
  /** System message when the first message is not a system one. Default "You are a helpful assistant.". */
  defaultSystem?: string;
  /** Append `<|im_start|>assistant\n` so the model answers next. Default true. */
  addGenerationPrompt?: boolean;
}

/** A rendered prompt. */
export interface ChatPrompt {
  /** The prompt text with every image expanded to its pad run (what is tokenized). */
  readonly text: string;
  /** `<|image_pad|>` count of each image (t·h·w / 4). */
  readonly imageTokenCounts: readonly number[];
}

/** A rendered and tokenized prompt. */
export interface EncodedChatPrompt extends ChatPrompt {
  readonly ids: Int32Array;
  /** Where each image's pads sit in `ids`: the index of its first `<|image_pad|>` and the count. */
  readonly imageSpans: readonly { readonly start: number; readonly length: number }[];
}

/** Pads per image: the vision merger joins 2×2 patches into one LLM token. */
export function imageTokenCount(grid: ImageGrid, name = 'imageGrid'): number {
  const ok =
    Array.isArray(grid) &&
    grid.length === 3 &&
    grid.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65536) &&
    grid[1] % 2 === 0 &&
    grid[2] % 2 === 0;
  if (!ok) throw invalidArgument(name, 'a [t, h, w] patch grid of positive integers with even h and w', grid);
  return (grid[0] * grid[1] * grid[2]) / 4;
}

type Segment = { kind: 'text'; text: string } | { kind: 'image'; index: number };

/**
 * Checks a conversation and returns plain copies ({ role, content } only): a non-empty array of
 * messages with a string `content` and a known role (system only first). The copies are what crosses
 * to the tokenizer thread, so extra properties (functions, symbols) never reach structured cloning.
 */
export function validateChatMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidArgument('messages', 'a non-empty array of chat messages', messages);
  return messages.map((message: unknown, i) => {
    if (!isObject(message) || typeof message.content !== 'string') {
      throw invalidArgument(`messages[${i}]`, 'a { role, content: string } message', message);
    }
    if (message.role !== 'user' && message.role !== 'assistant' && !(message.role === 'system' && i === 0)) {
      throw invalidArgument(`messages[${i}].role`, i === 0 ? "'system', 'user' or 'assistant'" : "'user' or 'assistant'", message.role);
    }
    return { role: message.role, content: message.content };
  });
}

/** Splits the conversation into text runs and images, validating messages against the grids. */
function segments(messages: readonly ChatMessage[], options: ChatPromptOptions): { parts: Segment[]; counts: number[] } {
  const grids = options.imageGrids ?? [];
  if (!Array.isArray(grids)) throw invalidArgument('imageGrids', 'an array of [t, h, w] grids', grids);
  const counts = grids.map((g, i) => imageTokenCount(g, `imageGrids[${i}]`));
  const parts: Segment[] = [];
  let text = '';
  let images = 0;
  const pushText = (s: string): void => {
    text += s;
  };
  const system = options.defaultSystem ?? DEFAULT_SYSTEM_MESSAGE;
  if (typeof system !== 'string') throw invalidArgument('defaultSystem', 'a string', system);
  validateChatMessages(messages).forEach((message, i) => {
    if (i === 0 && message.role !== 'system') pushText(`${IM_START}system\n${system}${IM_END}\n`);
    pushText(`${IM_START}${message.role}\n`);
    const pieces = message.content.split(IMAGE_PLACEHOLDER);
    pieces.forEach((piece, j) => {
      if (j > 0) {
        if (images >= counts.length) {
          throw new TrtVlaError(
            'ERR_INVALID_ARGUMENT',
            `The messages hold more ${IMAGE_PLACEHOLDER} placeholders than the ${counts.length} image grid(s) given`,
          );
        }
        if (text) parts.push({ kind: 'text', text });
        text = '';
        parts.push({ kind: 'image', index: images++ });
      }
      pushText(piece);
    });
    pushText(`${IM_END}\n`);
  });
  if (images !== counts.length) {
    throw new TrtVlaError(
      'ERR_INVALID_ARGUMENT',
      `The messages hold ${images} ${IMAGE_PLACEHOLDER} placeholder(s) but ${counts.length} image grid(s) were given`,
    );
  }
  if (options.addGenerationPrompt ?? true) pushText(`${IM_START}assistant\n`);
  if (text) parts.push({ kind: 'text', text });
  return { parts, counts };
}

/** Renders the chat prompt text (images expanded to their pad runs). */
export function renderChatPrompt(messages: readonly ChatMessage[], options: ChatPromptOptions = {}): ChatPrompt {
  const { parts, counts } = segments(messages, options);
  const text = parts
    .map((p) => (p.kind === 'text' ? p.text : VISION_START + IMAGE_PAD.repeat(counts[p.index]) + VISION_END))
    .join('');
  return { text, imageTokenCounts: counts };
}

/**
 * Renders and tokenizes the chat prompt. The text runs between images are encoded whole and the
 * vision ids are inserted directly, which equals encoding the expanded text (every run boundary
 * touches a special token, where the tokenizer splits anyway) without scanning hundreds of pads.
 */
export function encodeChatPrompt(
  tokenizer: QwenTokenizer,
  messages: readonly ChatMessage[],
  options: ChatPromptOptions = {},
): EncodedChatPrompt {
  const { parts, counts } = segments(messages, options);
  const { visionStart, visionEnd, imagePad } = tokenizer.specialIds;
  const chunks: ArrayLike<number>[] = [];
  const imageSpans: { start: number; length: number }[] = [];
  let length = 0;
  let text = '';
  for (const part of parts) {
    if (part.kind === 'text') {
      const ids = tokenizer.encode(part.text);
      chunks.push(ids);
      length += ids.length;
      text += part.text;
    } else {
      const n = counts[part.index];
      const ids = new Int32Array(n + 2).fill(imagePad);
      ids[0] = visionStart;
      ids[n + 1] = visionEnd;
      imageSpans.push({ start: length + 1, length: n });
      chunks.push(ids);
      length += n + 2;
      text += VISION_START + IMAGE_PAD.repeat(n) + VISION_END;
    }
  }
  const ids = new Int32Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    ids.set(chunk, offset);
    offset += chunk.length;
  }
  return { text, ids, imageTokenCounts: counts, imageSpans };
}
