import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Template } from '@huggingface/jinja';
import { beforeAll, describe, expect, it } from 'vitest';

import { isTrtVlaError } from '../../lib/errors.js';
import type { QwenTokenizer } from '../../lib/tokenizer/QwenTokenizer.js';
import { QwenTokenizer as Tokenizer } from '../../lib/tokenizer/QwenTokenizer.js';
import { encodeChatPrompt, renderChatPrompt, type ChatMessage, type ImageGrid } from '../../lib/tokenizer/chatTemplate.js';
import { QWEN25VL_CHAT_TEMPLATE } from '../../lib/tokenizer/qwenFiles.js';
import { NUSCENES_ANSWER, NUSCENES_PROMPT, Q7_ANSWER, Q7_PROMPT } from '../helpers/impromptuStrings.js';
import { qwenTokenizer, qwenTokenizerDir, referenceEncode } from '../helpers/qwen.js';

let tok: QwenTokenizer;
beforeAll(async () => {
  tok = await qwenTokenizer();
});

describe('generated Qwen2.5-VL tokenizer files', () => {
  it('carry exactly Qwen2.5-VL added tokens 151643–151664 and its config', async () => {
    const dir = await qwenTokenizerDir();
    const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8'));
    const config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
    const added = json.added_tokens as { id: number; content: string; special: boolean }[];
    expect(added.map((t) => t.id)).toEqual(Array.from({ length: 22 }, (_, i) => 151643 + i));
    expect(added.filter((t) => t.special).map((t) => t.id)).toEqual(Array.from({ length: 14 }, (_, i) => 151643 + i));
    expect(added.map((t) => t.content)).not.toContain('<think>');
    expect(added.find((t) => t.id === 151652)?.content).toBe('<|vision_start|>');
    expect(added.find((t) => t.id === 151655)?.content).toBe('<|image_pad|>');
    expect(added.find((t) => t.id === 151664)?.content).toBe('<|file_sep|>');
    expect(Object.keys(json.model.vocab)).toHaveLength(151643);
    expect(config).toMatchObject({ eos_token: '<|im_end|>', pad_token: '<|endoftext|>', model_max_length: 131072, bos_token: null, tokenizer_class: 'Qwen2Tokenizer' });
    expect(config.chat_template).toBe(QWEN25VL_CHAT_TEMPLATE);
    expect(Object.keys(config.added_tokens_decoder)).toHaveLength(22);
    expect(config.additional_special_tokens).toHaveLength(13);
  });

  it('load with the runtime ids looked up from the files', () => {
    expect(tok.specialIds).toEqual({
      endOfText: 151643, imStart: 151644, imEnd: 151645, visionStart: 151652, visionEnd: 151653,
      imagePad: 151655, videoPad: 151656, visionPad: 151654,
    });
    expect(tok.eosTokenId).toBe(151645);
    expect(tok.padTokenId).toBe(151643);
    expect(tok.vocabSize).toBe(151665);
    expect(tok.textVocabSize).toBe(151643);
  });

  it('fail to load with ERR_MODEL_LOAD when missing or malformed', async () => {
    await expect(Tokenizer.load('/nonexistent/dir')).rejects.toSatisfy((e) => isTrtVlaError(e, 'ERR_MODEL_LOAD'));
    expect(() => Tokenizer.fromJSON({ model: { type: 'WordPiece' } }, {})).toThrow(/BPE/);
    expect(() => Tokenizer.fromJSON([], {})).toThrow(/JSON object/);
  });
});

describe('encode equals the reference tokenizer', () => {
  const texts = [
    NUSCENES_PROMPT, NUSCENES_ANSWER, Q7_PROMPT, Q7_ANSWER,
    '[x, y]: [2.15, -0.09], [-3.8, 0.0], [-0.01, -999.99]',
    ' [-', ' [', '],', ']</PLANNING>', '-0.00', '123.45', '(t-0.0s) [0.0, 0.0]',
    'Hello world', '  two  spaces  ', '\n\nnewlines\r\n\ttab', 'trailing space ', ' ',
    'café naïve Ünïcödé', 'e\u0301 (decomposed é)', '日本語の道路', '🚗🚦 emoji', "it's we're I'll",
    '<|im_start|>user\nhi<|im_end|>\n', '<|vision_start|><|image_pad|><|image_pad|><|vision_end|>',
    "<Scene Description>Let's start with the environment description: \nA road.\n</Scene Description>",
  ];
  it.each(texts.map((t, i) => [i, t]))('text %i', (_i, text) => {
    expect(tok.encode(text)).toEqual(referenceEncode(text));
  });

  it('keeps special tokens whole', () => {
    for (const name of ['<|im_start|>', '<|im_end|>', '<|vision_start|>', '<|image_pad|>', '<|vision_end|>', '<|endoftext|>']) {
      expect(tok.encode(`a${name}b`)).toHaveLength(3);
    }
  });

  it('decodes back to the text', () => {
    for (const text of texts) expect(tok.decode(tok.encode(text))).toBe(text.normalize('NFC'));
    expect(tok.decode(tok.encode('<|im_start|>x<|im_end|>'), { skipSpecialTokens: true })).toBe('x');
  });
});

describe('chat template', () => {
  const grid1: ImageGrid = [1, 28, 48]; // 672×392 → 336 pads
  const grids3: ImageGrid[] = [[1, 28, 48], [1, 20, 36], [1, 2, 2]];

  it('renders the LLaMA-Factory qwen2_vl prompt', () => {
    const prompt = renderChatPrompt([{ role: 'user', content: 'Look <image> here.' }], { imageGrids: [[1, 2, 4]] });
    expect(prompt.text).toMatchInlineSnapshot(`
      "<|im_start|>system
      You are a helpful assistant.<|im_end|>
      <|im_start|>user
      Look <|vision_start|><|image_pad|><|image_pad|><|vision_end|> here.<|im_end|>
      <|im_start|>assistant
      "
    `);
    expect(prompt.imageTokenCounts).toEqual([2]);
  });

  it('matches Qwen2.5-VL\'s own Jinja template plus pad expansion', () => {
    const cases: [ChatMessage[], ImageGrid[]][] = [
      [[{ role: 'user', content: NUSCENES_PROMPT }], [grid1]],
      [[{ role: 'user', content: Q7_PROMPT }], grids3],
      [[{ role: 'system', content: 'Drive safely.' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: '<image>?' }], [[2, 4, 4]]],
    ];
    const template = new Template(QWEN25VL_CHAT_TEMPLATE);
    for (const [messages, grids] of cases) {
      // The official template takes structured content; split our placeholders into image parts.
      const structured = messages.map((m) => ({
        role: m.role,
        content: m.content.includes('<image>')
          ? m.content.split('<image>').flatMap((text, i) => (i === 0 ? [{ type: 'text', text }] : [{ type: 'image' }, { type: 'text', text }]))
          : m.content,
      }));
      let k = 0;
      const expected = template
        .render({ messages: structured, add_generation_prompt: true })
        .replace(/<\|image_pad\|>/g, () => '<|image_pad|>'.repeat((grids[k][0] * grids[k][1] * grids[k++][2]) / 4));
      expect(renderChatPrompt(messages, { imageGrids: grids }).text).toBe(expected);
    }
  });

  it.each([
    ['1 image (nuScenes)', NUSCENES_PROMPT, [grid1]],
    ['3 images (q7)', Q7_PROMPT, grids3],
  ] as const)('token ids of a prompt with %s equal the reference', (_name, content, grids) => {
    const encoded = encodeChatPrompt(tok, [{ role: 'user', content }], { imageGrids: grids });
    expect(Array.from(encoded.ids)).toEqual(referenceEncode(encoded.text));
    expect(encoded.text).toBe(renderChatPrompt([{ role: 'user', content }], { imageGrids: grids }).text);
    encoded.imageSpans.forEach((span, i) => {
      expect(span.length).toBe(encoded.imageTokenCounts[i]);
      expect(encoded.ids[span.start - 1]).toBe(tok.specialIds.visionStart);
      expect(Array.from(encoded.ids.subarray(span.start, span.start + span.length)).every((id) => id === tok.specialIds.imagePad)).toBe(true);
      expect(encoded.ids[span.start + span.length]).toBe(tok.specialIds.visionEnd);
    });
    expect(encoded.imageTokenCounts[0]).toBe(336);
  });

  it('encodes a full training conversation (prompt + answer) like the reference', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: NUSCENES_PROMPT }, { role: 'assistant', content: NUSCENES_ANSWER }];
    const encoded = encodeChatPrompt(tok, messages, { imageGrids: [[1, 4, 6]], addGenerationPrompt: false });
    expect(Array.from(encoded.ids)).toEqual(referenceEncode(encoded.text));
    expect(encoded.ids[encoded.ids.length - 2]).toBe(tok.specialIds.imEnd);
  });

  it('rejects placeholder / grid mismatches and bad grids with ERR_INVALID_ARGUMENT', () => {
    const bad = (fn: () => unknown): void => {
      expect(fn).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    };
    bad(() => renderChatPrompt([{ role: 'user', content: '<image><image>' }], { imageGrids: [[1, 2, 2]] }));
    expect(() => renderChatPrompt([{ role: 'user', content: '<image>' }], { imageGrids: [[1, 2, 2], [1, 2, 2]] })).toThrow(/1 <image> placeholder\(s\) but 2 image grid/);
    bad(() => renderChatPrompt([{ role: 'user', content: '<image>' }]));
    bad(() => renderChatPrompt([{ role: 'user', content: '<image>' }], { imageGrids: [[1, 3, 2]] }));
    bad(() => renderChatPrompt([{ role: 'user', content: '<image>' }], { imageGrids: [[0, 2, 2]] }));
    bad(() => renderChatPrompt([]));
    bad(() => renderChatPrompt([{ role: 'user', content: 'a' }, { role: 'system', content: 'b' }]));
    bad(() => renderChatPrompt([{ role: 'tool' as never, content: 'a' }]));
  });
});

describe('StreamingDetokenizer', () => {
  it('emits only complete characters and concatenates to the full decode', () => {
    for (const text of ['🚗 ahead, 日本語 road, café', NUSCENES_ANSWER, 'a🚦b🚗c', '\u{1F600}\u{1F601}']) {
      const ids = tok.encode(text);
      const detok = tok.createDetokenizer();
      const pieces = ids.map((id) => detok.push(id));
      pieces.push(detok.flush());
      for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
      expect(pieces.join('')).toBe(tok.decode(ids));
      expect(detok.text).toBe(text);
    }
  });

  it('holds back a split character until it completes and skips specials on request', () => {
    const ids = tok.encode(' 🚗');
    expect(ids.length).toBeGreaterThan(1); // " 🚗" is three byte tokens in Qwen's vocabulary
    const detok = tok.createDetokenizer({ skipSpecialTokens: true });
    // The first token is the space plus the emoji's first two bytes: only the space is complete.
    expect(detok.push(ids[0])).toBe(' ');
    expect(detok.push(ids[1])).toBe('');
    expect(detok.pushAll(ids.slice(2))).toBe('🚗');
    expect(detok.push(tok.specialIds.imEnd)).toBe('');
    const raw = tok.createDetokenizer();
    expect(raw.push(tok.specialIds.imEnd)).toBe('<|im_end|>');
    expect(() => raw.push(tok.vocabSize)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
