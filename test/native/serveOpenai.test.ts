// `trt-vla serve`'s OpenAI-compatible subset, driven by the official `openai` npm package.
import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type Model } from '../../lib/index.js';
import { createPlannerServer, type PlannerServer } from '../../lib/serve/index.js';
import { testModel } from '../helpers/models.js';

let model: Model;
let server: PlannerServer;
let client: OpenAI;
let baseUrl: string;
let pngDataUrl: string;
let jpegDataUrl: string;

beforeAll(async () => {
  model = await loadModel(await testModel(), { backend: 'cpu', threads: 1 });
  server = await createPlannerServer(model, { port: 0, modelName: 'impromptu-tiny', log: () => undefined });
  baseUrl = (await server.listen()).url;
  client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'not-checked-on-loopback', maxRetries: 0 });
  const raw = { raw: { width: 56, height: 56, channels: 3 as const } };
  const pixels = Buffer.alloc(56 * 56 * 3, 0).map((_, i) => (i * 37) % 251);
  pngDataUrl = `data:image/png;base64,${(await sharp(pixels, raw).png().toBuffer()).toString('base64')}`;
  jpegDataUrl = `data:image/jpeg;base64,${(await sharp(pixels, raw).jpeg().toBuffer()).toString('base64')}`;
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

const request = (image: string) =>
  ({
    model: 'anything',
    messages: [
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: 'Where should the car drive? <image> stays literal text.' },
          { type: 'image_url' as const, image_url: { url: image } },
        ],
      },
    ],
    max_tokens: 6,
    temperature: 0,
    seed: 3,
  }) satisfies OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;

describe('OpenAI-compatible chat', () => {
  it('lists the served model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['impromptu-tiny']);
  });

  it('answers a text + image chat completion with usage counts (PNG and JPEG data URLs)', async () => {
    const png = await client.chat.completions.create(request(pngDataUrl));
    expect(png.object).toBe('chat.completion');
    expect(png.model).toBe('impromptu-tiny');
    expect(png.choices).toHaveLength(1);
    expect(typeof png.choices[0]!.message.content).toBe('string');
    expect(['stop', 'length']).toContain(png.choices[0]!.finish_reason);
    const usage = png.usage!;
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeLessThanOrEqual(6);
    // A 56x56 image is 2x2 merged patches = 4 image tokens, plus the text and template tokens.
    expect(usage.prompt_tokens).toBeGreaterThan(4 + 10);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
    // Greedy: the same request gives the same answer; JPEG decodes to (nearly) the same prompt size.
    const again = await client.chat.completions.create(request(pngDataUrl));
    expect(again.choices[0]!.message.content).toBe(png.choices[0]!.message.content);
    const jpeg = await client.chat.completions.create(request(jpegDataUrl));
    expect(jpeg.usage!.prompt_tokens).toBe(usage.prompt_tokens);
  });

  it('streams server-sent chunks in OpenAI format that add up to the non-streamed answer', async () => {
    const whole = await client.chat.completions.create(request(pngDataUrl));
    const stream = await client.chat.completions.create({ ...request(pngDataUrl), stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe('chat.completion.chunk');
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? '';
        finish = choice.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(usage).toEqual(whole.usage);
  });

  it('samples with temperature / top_p / seed: the same seed repeats', async () => {
    const sampled = { ...request(pngDataUrl), temperature: 1.2, top_p: 0.95, seed: 11, max_tokens: 4 };
    const a = await client.chat.completions.create(sampled);
    const b = await client.chat.completions.create(sampled);
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
  });

  it("reports errors in OpenAI's error shape, which the SDK turns into typed errors", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ messages: [] }, 'invalid_request_body'],
      [{ messages: [{ role: 'user', content: 'hi' }], temperature: 3 }, 'invalid_request_body'],
      [{ messages: [{ role: 'user', content: 'hi' }], n: 2 }, 'invalid_request_body'],
      [{ messages: [{ role: 'user', content: 'hi' }], stop: ['x'] }, 'unsupported_parameter'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] }, 'unsupported_parameter'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }, 'invalid_request'],
      [{ messages: [{ role: 'user', content: 'hi' }, { role: 'system', content: 'late' }] }, 'invalid_request'],
    ];
    for (const [body, code] of cases) {
      const err = await client.chat.completions.create({ model: 'x', ...body } as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(body)).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).toBe(code);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).type).toBe('invalid_request_error');
    }
    const raw = await fetch(`${baseUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages": [' });
    const json = (await raw.json()) as { error: Record<string, unknown> };
    expect(raw.status).toBe(400);
    expect(Object.keys(json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  });
});
