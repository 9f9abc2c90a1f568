/**
 * Chat prompts as an OpenAI-compatible server renders them for Qwen2.5-VL: sglang's `qwen2-vl`
 * conversation template (sglang `python/sglang/srt/conversation.py`, `generate_chat_conv`): ChatML
 * turns, default system message "You are a helpful assistant.", and each content part in order, text
 * as it is (a literal "<image>" in the text stays text) and each `image_url` part as
 * `<|vision_start|>` + the image's pads + `<|vision_end|>` where it stands. Impromptu's node relies on
 * exactly this rendering (speculation-and-closed-loop.md §1.7).
 */
import { TrtVlaError } from '../errors.js';
import { DEFAULT_SYSTEM_MESSAGE } from '../tokenizer/chatTemplate.js';
import type { QwenTokenizer } from '../tokenizer/QwenTokenizer.js';

export type ChatPart = { type: 'text'; text: string } | { type: 'image'; index: number };

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  parts: ChatPart[];
}

/**
 * Token ids of the conversation followed by the assistant prompt. `imageTokenCounts[i]` is the pad
 * count of image i (from the model's patch grid).
 */
export function encodeChatTurns(tokenizer: QwenTokenizer, turns: readonly ChatTurn[], imageTokenCounts: readonly number[]): Int32Array {
  const { visionStart, visionEnd, imagePad } = tokenizer.specialIds;
  const chunks: ArrayLike<number>[] = [];
  let text = '';
  const flush = (): void => {
    if (text) chunks.push(tokenizer.encode(text));
    text = '';
  };
  turns.forEach((turn, i) => {
    if (turn.role === 'system' && i !== 0) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `messages[${i}]: a system message may only come first`);
    if (i === 0 && turn.role !== 'system') text += `<|im_start|>system\n${DEFAULT_SYSTEM_MESSAGE}<|im_end|>\n`;
    text += `<|im_start|>${turn.role}\n`;
    for (const part of turn.parts) {
      if (part.type === 'text') {
        text += part.text;
        continue;
      }
      // Every image boundary touches a special token, where the tokenizer splits anyway, so encoding
      // the runs between images separately gives the ids of the whole expanded text.
      flush();
      const n = imageTokenCounts[part.index]!;
      const ids = new Int32Array(n + 2).fill(imagePad);
      ids[0] = visionStart;
      ids[n + 1] = visionEnd;
      chunks.push(ids);
    }
    text += '<|im_end|>\n';
  });
  text += '<|im_start|>assistant\n';
  flush();
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Int32Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
