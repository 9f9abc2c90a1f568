/**
 * `frameFromImage`: a camera frame from a JPEG / PNG / WebP / TIFF file or its bytes, decoded with sharp
 * (a dependency) into the model's addon-owned memory. For applications that get compressed images rather
 * than raw pixels, and for the README's example; a camera that delivers raw pixels should write them
 * into `model.allocFrame(...)`'s `data` instead (no decode, no copy).
 */
import { TrtVlaError } from './errors.js';
import type { FrameBuffer } from './frame.js';
import type { Model } from './model/Model.js';

/**
 * Decodes `fileOrBuffer` (a path, or the encoded bytes) into a new rgb8 frame of `model`: EXIF
 * orientation applied, alpha dropped, converted to sRGB. One copy, at decode. The frame belongs to the
 * model (disposed with it); dispose it earlier with `frame.dispose()` or `using`.
 * Throws ERR_INVALID_ARGUMENT naming the file when it cannot be read or decoded.
 */
export async function frameFromImage(model: Model, fileOrBuffer: string | Uint8Array | ArrayBuffer): Promise<FrameBuffer> {
  const what = typeof fileOrBuffer === 'string' ? `image ${fileOrBuffer}` : 'image buffer';
  if (typeof fileOrBuffer !== 'string' && !(fileOrBuffer instanceof Uint8Array) && !(fileOrBuffer instanceof ArrayBuffer)) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `frameFromImage: expected a file path, a Uint8Array or an ArrayBuffer, got ${typeof fileOrBuffer}`);
  }
  const { default: sharp } = await import('sharp');
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(fileOrBuffer instanceof ArrayBuffer ? new Uint8Array(fileOrBuffer) : fileOrBuffer)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `cannot read ${what}: ${(err as Error).message}`, { cause: err });
  }
  const { width, height, channels } = decoded.info;
  if (channels !== 3) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${what} has ${channels} channels after conversion; expected 3`);
  const frame = model.allocFrame({ width, height, format: 'rgb8' });
  frame.data.set(decoded.data);
  return frame;
}
