// The install script's one decision, kept free of I/O so it can be tested: use the binary that is
// there (a prebuilt one from prebuilds/, or a local build), or build from source, and why.

/**
 * @param {object} facts
 * @param {boolean} facts.forceSource      TRT_VLA_BUILD_FROM_SOURCE=1 or --build-from-source
 * @param {string|undefined} facts.existing the binary node-gyp-build resolves, if any
 * @param {{ok: boolean, info?: {backends: string[]}, error?: string}|undefined} facts.probe  loading it in a child
 * @param {{found: boolean, version?: string, reason?: string}} facts.toolchain  TensorRT headers + nvcc
 * @param {string|undefined} facts.jetson  the L4T release line, on a Jetson
 * @param {string} facts.target           e.g. "linux-arm64"
 * @returns {{action: 'use', why: string} | {action: 'build', reason: string}}
 */
export function planInstall({ forceSource, existing, probe, toolchain, jetson, target }) {
  if (forceSource) return { action: 'build', reason: 'build from source requested' };
  if (!existing) return { action: 'build', reason: `no prebuilt binary for ${target} in this package` };
  if (!probe?.ok) return { action: 'build', reason: `the available binary does not load (${probe?.error ?? 'unknown error'})` };
  const hasTensorrt = probe.info.backends.includes('tensorrt');
  if (hasTensorrt) return { action: 'use', why: 'TensorRT compiled in' };
  if (!toolchain.found) return { action: 'use', why: `no TensorRT build here: ${toolchain.reason}` };
  // A Jetson (or any machine with TensorRT headers and nvcc): the prebuilt binary has no TensorRT,
  // and TensorRT is what the machine is for, so build.
  return { action: 'build', reason: `TensorRT ${toolchain.version} found${jetson ? ` on a Jetson (${jetson})` : ''}, but the available binary lacks TensorRT` };
}
