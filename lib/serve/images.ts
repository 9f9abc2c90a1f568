/**
 * Camera images as the planner service receives them, decoded by their content: a torch.save archive
 * (NeuroNCAP's renderer), PNG or JPEG (other renderers, OpenAI data URLs). The result is packed RGB,
 * copied once into a frame for the model.
 */
import { TrtVlaError } from '../errors.js';
import { allocFrame, type FrameBuffer } from '../frame.js';
import { decodeTorchImage, isZipArchive, type RgbImage } from './torchArchive.js';

export type { RgbImage };

/** Largest decoded image side accepted (FrameBuffer's own limit). */
const MAX_SIDE = 16384;

function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a;
}

function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/** What the bytes are, by magic number. */
export function sniffImage(bytes: Uint8Array): 'torch' | 'png' | 'jpeg' | undefined {
  if (isZipArchive(bytes)) return 'torch';
  if (isPng(bytes)) return 'png';
  if (isJpeg(bytes)) return 'jpeg';
  return undefined;
}

async function decodeCompressed(bytes: Uint8Array, kind: string, name: string): Promise<RgbImage> {
  const { default: sharp } = await import('sharp');
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_SIDE * MAX_SIDE })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion`);
    return { width: info.width, height: info.height, data };
  } catch (err) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${name}: cannot decode the ${kind} image: ${(err as Error).message}`, { cause: err });
  }
}

/** Decodes one image by its content; ERR_INVALID_ARGUMENT naming `name` when it is none of the three. */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<RgbImage> {
  const kind = sniffImage(bytes);
  let image: RgbImage;
  if (kind === 'torch') {
    try {
      image = decodeTorchImage(bytes);
    } catch (err) {
      if (err instanceof TrtVlaError) throw new TrtVlaError(err.code, `${name}: ${err.message}`, { cause: err });
      throw err;
    }
  } else if (kind === 'png' || kind === 'jpeg') {
    image = await decodeCompressed(bytes, kind.toUpperCase(), name);
  } else {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${name}: not a torch.save archive, PNG or JPEG (first bytes ${Buffer.from(bytes.subarray(0, 4)).toString('hex') || 'none'})`);
  }
  if (image.width > MAX_SIDE || image.height > MAX_SIDE) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${name}: ${image.width}x${image.height} exceeds ${MAX_SIDE} pixels a side`);
  }
  return image;
}

/** Strict base64 (standard alphabet, optional padding) to bytes; Buffer.from alone skips bad characters. */
export function decodeBase64(text: string, name: string): Buffer {
  const trimmed = text.replace(/\s+/g, '');
  if (trimmed.length === 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed) || trimmed.length % 4 === 1) {
    throw new TrtVlaError('ERR_INVALID_ARGUMENT', `${name}: not valid base64`);
  }
  return Buffer.from(trimmed, 'base64');
}

/** A new rgb8 frame holding the image (the caller disposes it). */
export function imageToFrame(image: RgbImage): FrameBuffer {
  const frame = allocFrame({ width: image.width, height: image.height, format: 'rgb8' });
  frame.data.set(image.data);
  return frame;
}
