// What a prebuilt binary may ask of the machine it lands on, read from the ELF file itself with
// readelf (binutils reads every architecture's ELF, so this also checks the cross-compiled arm64
// binary on an x86-64 host): the right machine, only the C/C++ runtime libraries as dependencies
// (no libcudart, libcuda or libnvinfer), symbol versions no newer than the oldest supported system
// has, and nothing else left unresolved but Node-API.
import { spawnSync } from 'node:child_process';
import { openSync, readSync, closeSync } from 'node:fs';

// The oldest system each prebuilt must load on: JetPack 6.2 is Ubuntu 22.04 (glibc 2.35, libstdc++
// of GCC 12: GLIBCXX_3.4.30, CXXABI_1.3.13); the same floor is applied to x64.
export const PREBUILT_FLOOR = { GLIBC: '2.35', GLIBCXX: '3.4.30', CXXABI: '1.3.13', GCC: '12.0.0' };
const ALLOWED_LIBRARIES = /^(libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-(x86-64|aarch64)\.so\.[12])$/;
const ELF_MACHINES = { 62: 'x86-64', 183: 'aarch64' };
export const EXPECTED_MACHINE = { x64: 'x86-64', arm64: 'aarch64' };

/** The ELF header's machine field, without external tools. */
export function elfMachine(file) {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(20);
    readSync(fd, header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
    const machine = header[5] === 1 ? header.readUInt16LE(18) : header.readUInt16BE(18);
    return ELF_MACHINES[machine] ?? `ELF machine ${machine}`;
  } finally {
    closeSync(fd);
  }
}

function readelf(args, file) {
  const result = spawnSync('readelf', [...args, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`readelf ${args.join(' ')} ${file} failed: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

const newer = (a, b) => {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0);
  }
  return false;
};

/**
 * Reads the binary's dependencies and returns { machine, needed, newest: {GLIBC, GLIBCXX, ...},
 * unresolved (undefined symbols without a library version), problems: [] }.
 */
export function inspectPrebuilt(file, arch) {
  const problems = [];
  const machine = elfMachine(file);
  if (machine !== EXPECTED_MACHINE[arch]) problems.push(`machine is ${machine}, expected ${EXPECTED_MACHINE[arch]}`);

  const needed = [...readelf(['-d', '-W'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const unexpected = needed.filter((lib) => !ALLOWED_LIBRARIES.test(lib));
  if (unexpected.length) problems.push(`depends on ${unexpected.join(', ')} (only the C/C++ runtime is allowed)`);

  const newest = {};
  for (const m of readelf(['-V', '-W'], file).matchAll(/Name: (GLIBC|GLIBCXX|CXXABI|GCC)_([\d.]+)/g)) {
    const [, family, version] = m;
    if (!newest[family] || newer(version, newest[family])) newest[family] = version;
  }
  for (const [family, version] of Object.entries(newest)) {
    if (PREBUILT_FLOOR[family] && newer(version, PREBUILT_FLOOR[family])) problems.push(`needs ${family}_${version}, newer than ${family}_${PREBUILT_FLOOR[family]}`);
  }

  // Undefined dynamic symbols: versioned ones come from the libraries above; unversioned ones must be
  // Node-API (resolved from the node process) or the usual weak toolchain hooks.
  const unresolved = [];
  for (const line of readelf(['--dyn-syms', '-W'], file).split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 8 || cols[6] !== 'UND' || !cols[7]) continue;
    const [name, version] = cols[7].split('@');
    if (version) continue;
    if (cols[4] === 'WEAK' || /^(napi_|node_api_)/.test(name)) continue;
    unresolved.push(name);
  }
  if (unresolved.length) problems.push(`unversioned undefined symbols beyond Node-API: ${unresolved.slice(0, 8).join(', ')}`);
  return { machine, needed, newest, problems };
}
