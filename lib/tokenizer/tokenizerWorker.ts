/**
 * The tokenizer's thread. Building the Qwen BPE tables from tokenizer.json takes about a second of
 * CPU, and compiling an answer grammar a few hundred milliseconds; here they run off the main thread
 * so the event loop never stalls (TokenizerHost is the main-thread side).
 */
import { parentPort, workerData } from 'node:worker_threads';

import { compileAnswerGrammar, type CompileGrammarOptions } from '../action/grammarCompiler.js';
import { buildDrafterTokenSpec } from '../action/waypointDrafterSpec.js';
import { encodeChatPrompt, type ChatMessage, type ChatPromptOptions } from './chatTemplate.js';
import { QwenTokenizer } from './QwenTokenizer.js';

export type TokenizerRequest =
  | { id: number; type: 'encode'; text: string }
  | { id: number; type: 'encodeChat'; messages: ChatMessage[]; options: ChatPromptOptions }
  | { id: number; type: 'compileGrammar'; options: CompileGrammarOptions }
  | { id: number; type: 'drafterTokens'; options: CompileGrammarOptions }
  | { id: number; type: 'decode'; ids: Int32Array; skipSpecialTokens: boolean };

export interface TokenizerReady {
  type: 'ready';
  vocabSize: number;
  textVocabSize: number;
  eosTokenId: number;
  padTokenId: number;
  specialIds: QwenTokenizer['specialIds'];
  /** Token bytes, concatenated; token i is bytes[offsets[i] .. offsets[i + 1]). */
  offsets: Int32Array;
  bytes: Uint8Array;
  /** 1 where the token is a special added token. */
  special: Uint8Array;
}

function errorPayload(err: unknown): { code: string; message: string } {
  const e = err as { code?: string; message?: string };
  return { code: e?.code ?? 'ERR_INTERNAL', message: e?.message ?? String(err) };
}

async function main(): Promise<void> {
  const port = parentPort!;
  let tokenizer: QwenTokenizer;
  try {
    tokenizer = await QwenTokenizer.load((workerData as { dir: string }).dir);
  } catch (err) {
    port.postMessage({ type: 'failed', error: errorPayload(err) });
    return;
  }
  const n = tokenizer.vocabSize;
  const offsets = new Int32Array(n + 1);
  const chunks: Uint8Array[] = [];
  const special = new Uint8Array(n);
  let total = 0;
  for (let id = 0; id < n; id++) {
    const bytes = tokenizer.tokenBytes(id);
    chunks.push(bytes);
    total += bytes.length;
    offsets[id + 1] = total;
    special[id] = tokenizer.isSpecial(id) ? 1 : 0;
  }
  const bytes = new Uint8Array(total);
  chunks.forEach((c, id) => bytes.set(c, offsets[id]!));
  const ready: TokenizerReady = {
    type: 'ready',
    vocabSize: n,
    textVocabSize: tokenizer.textVocabSize,
    eosTokenId: tokenizer.eosTokenId,
    padTokenId: tokenizer.padTokenId,
    specialIds: tokenizer.specialIds,
    offsets,
    bytes,
    special,
  };
  port.postMessage(ready, [offsets.buffer, bytes.buffer, special.buffer]);

  port.on('message', (request: TokenizerRequest) => {
    try {
      switch (request.type) {
        case 'encode': {
          const ids = Int32Array.from(tokenizer.encode(request.text));
          port.postMessage({ id: request.id, ok: true, result: ids }, [ids.buffer]);
          break;
        }
        case 'encodeChat': {
          const encoded = encodeChatPrompt(tokenizer, request.messages, request.options);
          port.postMessage({ id: request.id, ok: true, result: encoded }, [encoded.ids.buffer as ArrayBuffer]);
          break;
        }
        case 'compileGrammar': {
          // Arrays are copied, not transferred: the compiler caches them for the next request.
          const g = compileAnswerGrammar(tokenizer, request.options);
          port.postMessage({ id: request.id, ok: true, result: { ...g } });
          break;
        }
        case 'drafterTokens': {
          // The grammar comes from the compiler's cache; the spec's arrays are copied, like the grammar's.
          const g = compileAnswerGrammar(tokenizer, request.options);
          port.postMessage({ id: request.id, ok: true, result: buildDrafterTokenSpec(tokenizer, g, request.options.format) });
          break;
        }
        case 'decode':
          port.postMessage({ id: request.id, ok: true, result: tokenizer.decode(request.ids, { skipSpecialTokens: request.skipSpecialTokens }) });
          break;
      }
    } catch (err) {
      port.postMessage({ id: request.id, ok: false, error: errorPayload(err) });
    }
  });
}

void main();
