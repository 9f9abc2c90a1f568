/** The Qwen2.5-VL tokenizer, chat prompt and streaming detokenizer (pure TypeScript, no native import). */
export { QwenTokenizer, type AddedTokenInfo, type SpecialTokenIds } from './QwenTokenizer.js';
export { StreamingDetokenizer, type DetokenizerOptions, type DetokenizerVocabulary } from './StreamingDetokenizer.js';
export {
  DEFAULT_SYSTEM_MESSAGE,
  IMAGE_PLACEHOLDER,
  encodeChatPrompt,
  imageTokenCount,
  renderChatPrompt,
  type ChatMessage,
  type ChatPrompt,
  type ChatPromptOptions,
  type ChatRole,
  type EncodedChatPrompt,
  type ImageGrid,
} from './chatTemplate.js';
export {
  QWEN25VL_ADDED_TOKENS,
  QWEN25VL_CHAT_TEMPLATE,
  QWEN25VL_FIRST_ADDED_ID,
  qwen25VLTokenizerConfig,
  qwen25VLTokenizerJson,
  writeQwen25VLTokenizerFiles,
  type QwenTokenizerFilesOptions,
} from './qwenFiles.js';
