/**
 * trt-vla: run the Impromptu driving VLA (Qwen2.5-VL) from Node.js — TensorRT engines on Jetson Orin,
 * a CPU reference engine everywhere else.
 */
export { TrtVlaError, isTrtVlaError, type TrtVlaErrorCode } from './errors.js';
export { info, type RuntimeInfo, type BackendName, type BackendStatus } from './info.js';
export {
  allocFrame,
  createFramePool,
  FrameBuffer,
  FramePool,
  PIXEL_FORMATS,
  type FrameOptions,
  type FramePoolOptions,
  type PixelFormat,
} from './frame.js';
