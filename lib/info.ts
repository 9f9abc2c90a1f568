/**
 * What this machine and this binary can run: `info()` and `trt-vla info`. Works without the native
 * addon too: then it says where it looked for the binary, why each place failed, and how to fix it
 * (the one report that can, since every other call needs the addon).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { withCallerStack } from './errors.js';
import {
  addonState,
  native,
  packageRoot,
  platform,
  type AddonCandidate,
  type NativeBackendStatus,
  type NativeBuildInfo,
  type NativeRuntimeInfo,
  type PlatformFacts,
} from './native.js';

export type BackendName = 'cpu' | 'cuda' | 'tensorrt';
export type BackendStatus = NativeBackendStatus;
export type { AddonCandidate, PlatformFacts };

interface RuntimeInfoCommon {
  /** This package, as installed (package.json). */
  package: { name: string; version: string };
  /** The process: OS, CPU architecture, Node.js and Node-API versions, glibc. */
  platform: PlatformFacts;
  /** Per backend: compiled into this binary, usable on this machine, and why not. */
  backends: Record<BackendName, BackendStatus>;
}

/** info() where the native addon loaded. */
export interface AddonRuntimeInfo extends RuntimeInfoCommon {
  addonLoaded: true;
  /** The binary loaded, and the places searched on the way. */
  addon: { path: string; candidates: AddonCandidate[] };
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

/** info() where the native addon did not load: nothing can run until the advice is followed. */
export interface NoAddonRuntimeInfo extends RuntimeInfoCommon {
  addonLoaded: false;
  addon: {
    /** The code every other call fails with. */
    code: 'ERR_ADDON_LOAD';
    /** Why, in one sentence. */
    cause: string;
    /** What to do, most likely fix first. */
    advice: string[];
    /** Each place searched for the binary, and why it failed. */
    candidates: AddonCandidate[];
  };
  device?: undefined;
  cuda?: undefined;
  tensorrt?: undefined;
  cpu?: undefined;
  build?: undefined;
}

/** Narrow with `addonLoaded`: without the addon only the package, platform, addon and backends fields exist. */
export type RuntimeInfo = AddonRuntimeInfo | NoAddonRuntimeInfo;

let packageFacts: { name: string; version: string } | undefined;

function packageInfo(): { name: string; version: string } {
  if (!packageFacts) {
    const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { name: string; version: string };
    packageFacts = { name: pkg.name, version: pkg.version };
  }
  return packageFacts;
}

/**
 * Reports each backend (compiled / available / why not), the device, versions and build facts. Never
 * fails for a missing addon: then `addonLoaded` is false, and `addon` holds the cause, each place
 * searched and the fixes, and every backend is unavailable with that cause.
 */
export async function info(): Promise<RuntimeInfo> {
  const state = addonState();
  const common = { package: packageInfo(), platform: platform() };
  if (!state.loaded) {
    const { cause, advice, candidates } = state.failure;
    const reason = `the native addon did not load: ${cause}`;
    const unavailable = (): BackendStatus => ({ compiled: false, available: false, reason });
    return {
      ...common,
      addonLoaded: false,
      addon: { code: 'ERR_ADDON_LOAD', cause, advice, candidates },
      backends: { cpu: unavailable(), cuda: unavailable(), tensorrt: unavailable() },
    };
  }
  const raw = await withCallerStack(() => state.addon.runtimeInfo());
  return {
    ...common,
    addonLoaded: true,
    addon: { path: state.path, candidates: state.candidates },
    ...raw,
    build: { ...raw.build, addonPath: state.path },
  };
}

/** info() for callers that need the addon (loadModel, bench): throws ERR_ADDON_LOAD without it. */
export async function addonInfo(): Promise<AddonRuntimeInfo> {
  native();
  return (await info()) as AddonRuntimeInfo;
}
