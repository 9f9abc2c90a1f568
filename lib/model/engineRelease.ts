/**
 * Which TensorRT Edge-LLM release exported and built a bundle, and whether trt-vla speaks its engine
 * contract.
 *
 * Edge-LLM records its release in every config.json its export writes (`edgellm_version`:
 * Edge-LLM 0.6.1 tensorrt_edgellm/onnx_export/config_export.py:237 for visual/, :288 for llm/), and the
 * builders keep it when they add `builder_config` (cpp/builder/llmBuilder.cpp:735,
 * cpp/builder/builderUtils.cpp:324-331). Its own runtime only warns on a mismatch
 * (cpp/common/version.cpp:73-106), but the plugins keep their names and versions across releases while
 * their serialized fields and inputs change (AttentionPlugin "1"), so an engine of another release can
 * deserialize against the wrong plugin code. trt-vla therefore refuses engines of another release line.
 *
 * Supported: 0.6.x. 0.6.0 and 0.6.1 export and build the same engines (between the v0.6.0 and v0.6.1 tags
 * nothing changed in onnx_export/, visual_models/, visualBuilder.cpp, bindingNames.h or the plugins'
 * fields; llmBuilder.cpp only gained a TensorRT >= 10.15 builder setting). 0.5.0's visual engines take
 * dense attention masks; 0.7.0 changed llm_export.py, bindingNames.h and AttentionPlugin.
 *
 * Absent field: Edge-LLM writes it since its first public release (0.4.0 already has
 * config_export.py:157,190 writing it). Configs without it are trt-vla's own or Hugging Face
 * checkpoints (CPU weights: nothing to check), or engines older than 0.4.0 / not made by Edge-LLM's
 * export — which the TensorRT backend refuses, since nothing says which contract they follow.
 */
import { TrtVlaError } from '../errors.js';
import type { ModelFiles } from './bundle.js';

/** The Edge-LLM release line whose engines trt-vla runs. */
export const SUPPORTED_EDGELLM_RELEASE = { major: 0, minor: 6, text: '0.6.x (0.6.0, 0.6.1)' } as const;

export interface EngineRelease {
  /** The release in the configs (llm/config.json, else visual/config.json); undefined when they name none. */
  edgellmVersion?: string;
  /** Per component, as recorded. */
  llm?: string;
  visual?: string;
  /** llm_build's flags as it records them (llmBuilder.cpp:735; fields llmBuilder.h:51-70). */
  llmBuilderConfig?: Record<string, unknown>;
  /** visual_build's flags (visualBuilder.h:46-53): min_image_tokens, max_image_tokens, max_image_tokens_per_image. */
  visualBuilderConfig?: Record<string, unknown>;
}

function versionOf(config: Record<string, unknown>): string | undefined {
  const v = config.edgellm_version;
  return v === undefined ? undefined : String(v);
}

function objectOf(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** What the bundle's configs say about the Edge-LLM release and builds that made it. */
export function engineRelease(files: ModelFiles): EngineRelease {
  const llm = versionOf(files.llm.config);
  const visual = files.layout === 'bundle' ? versionOf(files.visual.config) : undefined;
  const release: EngineRelease = { edgellmVersion: llm ?? visual };
  if (llm !== undefined) release.llm = llm;
  if (visual !== undefined) release.visual = visual;
  const llmBuild = objectOf(files.llm.config.builder_config);
  const visualBuild = files.layout === 'bundle' ? objectOf(files.visual.config.builder_config) : undefined;
  if (llmBuild) release.llmBuilderConfig = llmBuild;
  if (visualBuild) release.visualBuilderConfig = visualBuild;
  return release;
}

/** Edge-LLM's own version grammar: major.minor.patch, nothing else (version.cpp:34-70). */
function parseRelease(version: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function supported(version: string): boolean {
  const v = parseRelease(version);
  return v !== undefined && v[0] === SUPPORTED_EDGELLM_RELEASE.major && v[1] === SUPPORTED_EDGELLM_RELEASE.minor;
}

/**
 * Why this bundle cannot run on this backend because of the release that made it, or undefined when it
 * can. A recorded release outside 0.6.x is refused on either backend (its configs follow another
 * release's format too); engines without any record are refused where they would be loaded.
 */
export function engineReleaseProblem(files: ModelFiles, backend: 'cpu' | 'tensorrt'): string | undefined {
  const r = engineRelease(files);
  const rebuild = `re-export and rebuild the engines with Edge-LLM ${SUPPORTED_EDGELLM_RELEASE.text}`;
  for (const [component, version] of [
    ['llm/config.json', r.llm],
    ['visual/config.json', r.visual],
  ] as const) {
    if (version !== undefined && !supported(version)) {
      return `${component} was written by TensorRT Edge-LLM ${version}; trt-vla runs engines of Edge-LLM ${SUPPORTED_EDGELLM_RELEASE.text} only: ${rebuild}`;
    }
  }
  if (backend === 'tensorrt' && files.layout === 'bundle') {
    for (const [component, version, engine] of [
      ['llm/config.json', r.llm, files.llm.engineFile],
      ['visual/config.json', r.visual, files.visual.engineFile],
    ] as const) {
      if (engine !== undefined && version === undefined) {
        return (
          `${component} has no edgellm_version, which TensorRT Edge-LLM writes into every export since 0.4.0: these engines come from an ` +
          `older release or another tool, whose engine contract trt-vla cannot tell; ${rebuild}`
        );
      }
    }
  }
  return undefined;
}

/** Throws ERR_ENGINE_INCOMPATIBLE with engineReleaseProblem's reason. */
export function requireSupportedRelease(files: ModelFiles, backend: 'cpu' | 'tensorrt'): void {
  const problem = engineReleaseProblem(files, backend);
  if (problem !== undefined) throw new TrtVlaError('ERR_ENGINE_INCOMPATIBLE', problem);
}
