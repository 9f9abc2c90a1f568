/**
 * The GPT-2 "byte-level" alphabet that Qwen's BPE vocabulary is written in: every byte 0–255 is shown
 * as one printable Unicode character, so a token string in tokenizer.json ("Ġ[", "Ċ") stands for a
 * byte string (" [", "\n"). The grammar compiler and the streaming detokenizer work on those bytes,
 * because tokens may end in the middle of a UTF-8 character.
 */

/** Builds the byte → character table: printable Latin-1 bytes stand for themselves, the other 68
 * bytes are shifted to U+0100 and up, in byte order (the published GPT-2 convention). */
function buildByteToChar(): string[] {
  const table = new Array<string>(256);
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(printable(b) ? b : 256 + shifted++);
  }
  return table;
}

const BYTE_TO_CHAR = buildByteToChar();
const CHAR_TO_BYTE = new Map<number, number>(BYTE_TO_CHAR.map((ch, b) => [ch.charCodeAt(0), b]));

/**
 * The bytes a byte-level token string stands for, as a "binary string" (one char per byte, 0–255),
 * or undefined when the string holds a character outside the byte-level alphabet (an added token
 * such as `<|im_end|>` is plain text, not byte-level).
 */
export function byteLevelToBinary(token: string): string | undefined {
  let out = '';
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token.charCodeAt(i));
    if (b === undefined) return undefined;
    out += String.fromCharCode(b);
  }
  return out;
}

/** UTF-8 bytes of `text` as a binary string (one char per byte). */
export function utf8Binary(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
}

/** A binary string (one char per byte) as bytes. */
export function binaryToBytes(binary: string): Uint8Array {
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
