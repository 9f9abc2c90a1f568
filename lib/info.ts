/** What this machine and this binary can run: `info()` and `trt-vla info`. */
import { withCallerStack } from './errors.js';
import { native, nativeAddonPath, type NativeBackendStatus, type NativeBuildInfo, type NativeRuntimeInfo } from './native.js';

export type BackendName = 'cpu' | 'cuda' | 'tensorrt';
export type BackendStatus = NativeBackendStatus;

export interface RuntimeInfo {
  /** Per backend: compiled into this binary, usable on this machine, and why not. */
  backends: Record<BackendName, BackendStatus>;
  /** The first CUDA device, when one is usable. */
  device?: NativeRuntimeInfo['device'];
  /** CUDA driver and runtime versions (when CUDA is compiled in). */
  cuda?: NativeRuntimeInfo['cuda'];
  /** TensorRT runtime version (when TensorRT is compiled in). */
  tensorrt?: NativeRuntimeInfo['tensorrt'];
  /** SIMD level the CPU kernels use and the CPU threads available to this process. */
  cpu: NativeRuntimeInfo['cpu'];
  /** What the binary was built with, and where it was loaded from. */
  build: NativeBuildInfo & { addonPath: string };
}

/** Reports each backend (compiled / available / why not), the device, versions and build facts. */
export async function info(): Promise<RuntimeInfo> {
  const raw = await withCallerStack(() => native().runtimeInfo());
  return { ...raw, build: { ...raw.build, addonPath: nativeAddonPath() } };
}
