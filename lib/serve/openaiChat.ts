/**
 * The OpenAI-compatible subset: `GET /v1/models` and `POST /v1/chat/completions` (text and
 * `image_url` data-URL parts, max_tokens, temperature, top_p, seed, stream), shaped as OpenAI's API
 * reference describes the chat completion object, the chunk object and the error object.
 */
import { randomUUID } from 'node:crypto';

import { TrtVlaError } from '../errors.js';
import type { FrameBuffer } from '../frame.js';
import type { Model } from '../model/Model.js';
import type { GenerateResult, SamplingOptions } from '../model/types.js';
import type { QwenTokenizer } from '../tokenizer/QwenTokenizer.js';
import { encodeChatTurns, type ChatPart, type ChatTurn } from './chatPrompt.js';
import { decodeBase64, decodeImage, imageToFrame } from './images.js';
import { imageTokenCounts } from './ncapPlanner.js';

type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail?: string } | string };

export interface ChatCompletionBody {
  model?: string;
  messages: { role: 'system' | 'user' | 'assistant'; content: string | ContentPart[] | null }[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  stop?: unknown;
  tools?: unknown;
}

/** JSON schema of the request body (Fastify validates it before the handler runs). */
export const CHAT_COMPLETION_SCHEMA = {
  type: 'object',
  required: ['messages'],
  properties: {
    model: { type: 'string' },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role', 'content'],
        properties: {
          role: { enum: ['system', 'user', 'assistant'] },
          content: {
            anyOf: [
              { type: 'string' },
              {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['type'],
                  properties: { type: { enum: ['text', 'image_url'] } },
                },
              },
            ],
          },
        },
      },
    },
    max_tokens: { type: ['integer', 'null'], minimum: 1 },
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1 },
    temperature: { type: ['number', 'null'], minimum: 0, maximum: 2 },
    top_p: { type: ['number', 'null'], exclusiveMinimum: 0, maximum: 1 },
    seed: { type: ['integer', 'null'] },
    n: { type: ['integer', 'null'], minimum: 1, maximum: 1 },
    stream: { type: ['boolean', 'null'] },
    stream_options: { type: ['object', 'null'], properties: { include_usage: { type: 'boolean' } } },
  },
} as const;

/** A request that is well-formed JSON but asks for something this server does not do. */
export class UnsupportedParameter extends TrtVlaError {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super('ERR_INVALID_ARGUMENT', message);
  }
}

export interface ParsedChat {
  turns: ChatTurn[];
  images: Uint8Array[];
  maxTokens: number | undefined;
  sampling: SamplingOptions;
  stream: boolean;
  includeUsage: boolean;
}

const DATA_URL = /^data:image\/[a-z0-9.+-]+;base64,/i;

/** The request as the model runs it; UnsupportedParameter / ERR_INVALID_ARGUMENT for what it cannot. */
export function parseChatBody(body: ChatCompletionBody): ParsedChat {
  for (const param of ['stop', 'tools'] as const) {
    if (body[param] !== undefined && body[param] !== null) throw new UnsupportedParameter(param, `'${param}' is not supported by this server`);
  }
  const images: Uint8Array[] = [];
  const turns = body.messages.map((message, i): ChatTurn => {
    const content = message.content ?? '';
    if (typeof content === 'string') return { role: message.role, parts: [{ type: 'text', text: content }] };
    const parts = content.map((part, j): ChatPart => {
      const where = `messages[${i}].content[${j}]`;
      if (part.type === 'text') {
        if (typeof part.text !== 'string') throw new UnsupportedParameter(where, `${where}.text must be a string`);
        return { type: 'text', text: part.text };
      }
      const url = typeof part.image_url === 'string' ? part.image_url : part.image_url?.url;
      if (typeof url !== 'string') throw new UnsupportedParameter(where, `${where}.image_url.url must be a string`);
      const match = DATA_URL.exec(url);
      if (!match) throw new UnsupportedParameter(where, `${where}: only data:image/...;base64 URLs are accepted (this server fetches nothing)`);
      images.push(decodeBase64(url.slice(match[0].length), `${where}.image_url`));
      return { type: 'image', index: images.length - 1 };
    });
    return { role: message.role, parts };
  });
  const sampling: SamplingOptions = {};
  if (body.temperature !== undefined && body.temperature !== null) sampling.temperature = body.temperature;
  if (body.top_p !== undefined && body.top_p !== null) sampling.topP = body.top_p;
  if (body.seed !== undefined && body.seed !== null) sampling.seed = body.seed;
  return {
    turns,
    images,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    sampling,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

/**
 * Decodes the images, renders the prompt as sglang's qwen2-vl template would, and generates.
 * `onText` receives the answer as it is produced (streaming).
 */
export async function runChat(model: Model, tokenizer: QwenTokenizer, chat: ParsedChat, onText?: (text: string) => void): Promise<GenerateResult> {
  const decoded = [];
  for (const [i, bytes] of chat.images.entries()) decoded.push(await decodeImage(bytes, `image ${i}`));
  const frames: FrameBuffer[] = decoded.map(imageToFrame);
  try {
    const tokens = encodeChatTurns(tokenizer, chat.turns, await imageTokenCounts(model, frames));
    return await model.generate({
      tokens,
      images: frames,
      maxTokens: chat.maxTokens,
      sampling: chat.sampling,
      onToken: onText ? (event) => event.text && onText(event.text) : undefined,
    });
  } finally {
    for (const f of frames) f.dispose();
  }
}

export function usageOf(result: GenerateResult): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const prompt = result.timings.promptTokens;
  const completion = result.tokens.length;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export const finishReason = (result: GenerateResult): 'stop' | 'length' => (result.stopReason === 'length' ? 'length' : 'stop');

/** The non-streaming chat.completion object. */
export function completionObject(id: string, created: number, modelId: string, result: GenerateResult): Record<string, unknown> {
  return {
    id,
    object: 'chat.completion',
    created,
    model: modelId,
    choices: [{ index: 0, message: { role: 'assistant', content: result.text }, logprobs: null, finish_reason: finishReason(result) }],
    usage: usageOf(result),
  };
}

/** A new completion id and creation time (seconds). */
export function completionId(): { id: string; created: number } {
  return { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000) };
}

/** One chat.completion.chunk object. */
export function chunkObject(
  id: string,
  created: number,
  modelId: string,
  delta: Record<string, unknown> | undefined,
  finish: 'stop' | 'length' | null,
  usage?: ReturnType<typeof usageOf>,
): Record<string, unknown> {
  return {
    id,
    object: 'chat.completion.chunk',
    created,
    model: modelId,
    choices: delta === undefined ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  };
}
