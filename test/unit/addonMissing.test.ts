/**
 * Without a loadable native addon: `trt-vla info` (and info()) still report, saying where the binary
 * was looked for, why each place failed and how to fix it, with no advice to run `trt-vla info`;
 * every other command and loadModel fail with ERR_ADDON_LOAD pointing at `trt-vla info`. Each case
 * runs the built CLI (dist/, built by `npm test`) or the package entry in a child process, with the
 * addon path forced by TRT_VLA_ADDON_PATH (lib/native.ts) or, for the package's own search, with
 * node-gyp-build's TRT_VLA_PREBUILD pointed at an empty folder (node_modules/node-gyp-build/
 * node-gyp-build.js 4.8.4, lines 28-31: `<NAME>_PREBUILD` replaces the folder it searches).
 *
 * The loader's messages quoted below are glibc's and Node's, observed with Node 20.20 on Debian 12
 * (glibc 2.36): `node -e "require('/tmp/x.node')"` on a text file -> "invalid ELF header"; on an
 * x86-64 library with e_machine patched to AArch64 -> "cannot open shared object file: No such file
 * or directory"; on libdl.so.2 -> "Module did not self-register".
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { describeBinaryHeader } from '../../lib/loadDiagnostics.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = path.join(root, 'dist', 'cli', 'main.js');
const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-no-addon-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The environment of a child whose addon search is decided by `overrides` alone. */
function childEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TRT_VLA_ADDON_PATH: '', ...overrides };
  if (!('TRT_VLA_PREBUILD' in overrides)) delete env.TRT_VLA_PREBUILD;
  delete env.PREBUILDS_ONLY;
  return env;
}

function run(args: string[], overrides: Record<string, string>) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: childEnv(overrides), cwd: scratch });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A shared library this process has loaded (process.report lists them): a real ELF of this machine. */
function systemLibrary(): string | undefined {
  const report = process.report.getReport() as { sharedObjects?: string[] };
  return (report.sharedObjects ?? []).find((f) => path.isAbsolute(f) && /\/lib(dl|m|pthread)\.so[.\d]*$/.test(f) && existsSync(f));
}

const library = process.platform === 'linux' ? systemLibrary() : undefined;

/** The cases: what TRT_VLA_ADDON_PATH / TRT_VLA_PREBUILD point at, and what the report must say. */
interface Case {
  name: string;
  env: () => Record<string, string>;
  cause: RegExp;
  /** The searched places' lines. */
  searched: RegExp;
  advice: RegExp;
}

const CASES: Case[] = [
  {
    name: 'TRT_VLA_ADDON_PATH names a missing file',
    env: () => ({ TRT_VLA_ADDON_PATH: path.join(scratch, 'nowhere', 'trt_vla.node') }),
    cause: /TRT_VLA_ADDON_PATH is set to .*nowhere\/trt_vla\.node, and there is no file there/,
    searched: /TRT_VLA_ADDON_PATH +.*nowhere\/trt_vla\.node\n +not found: no such file/,
    advice: /unset TRT_VLA_ADDON_PATH/,
  },
  {
    name: 'TRT_VLA_ADDON_PATH names a text file',
    env: () => {
      const file = path.join(scratch, 'notes.node');
      writeFileSync(file, 'these are notes, not a compiled addon: longer than the 64 bytes of an ELF header\n');
      return { TRT_VLA_ADDON_PATH: file };
    },
    cause: /notes\.node is not a compiled addon \(no ELF header; it starts with "these are notes,"\)/,
    searched: /TRT_VLA_ADDON_PATH +.*notes\.node\n +load error: .*notes\.node: invalid ELF header/,
    advice: /unset TRT_VLA_ADDON_PATH.*\n.*npm run build:native/,
  },
  {
    name: 'nothing built and no prebuilt binary (the package searches itself)',
    env: () => {
      const empty = path.join(scratch, 'empty-package');
      mkdirSync(empty, { recursive: true });
      return { TRT_VLA_PREBUILD: empty };
    },
    cause: new RegExp(`no binary for ${process.platform}-${process.arch} \\(Node-API ${process.versions.napi}\\)`),
    searched: /build\/Release +.*empty-package\/build\/Release\n +not found: no such folder\n[\s\S]*prebuilds +.*empty-package\/prebuilds\/\S+\n +not found: no such folder/,
    advice: /npm rebuild trt-vla` \(needs CMake >= 3\.19 and a C\+\+17 compiler, or python3, make and g\+\+[\s\S]*npm install-scripts approve trt-vla && npm rebuild trt-vla/,
  },
];

if (library) {
  const otherArch = process.arch === 'arm64' ? { machine: 62, name: 'x64' } : { machine: 183, name: 'arm64' };
  CASES.push(
    {
      name: `TRT_VLA_ADDON_PATH names a library built for ${otherArch.name}`,
      env: () => {
        const file = path.join(scratch, 'foreign.node');
        copyFileSync(library, file);
        // e_machine, 2 bytes at offset 18 of the ELF header (little-endian on both architectures).
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.from([otherArch.machine & 0xff, otherArch.machine >> 8]), 0, 2, 18);
        closeSync(fd);
        return { TRT_VLA_ADDON_PATH: file };
      },
      cause: new RegExp(`foreign\\.node was built for another CPU architecture \\(${otherArch.name}, 64-bit\\) than this machine \\(linux-${process.arch}\\)`),
      searched: /load error: .*foreign\.node: cannot open shared object file: No such file or directory/,
      advice: /unset TRT_VLA_ADDON_PATH/,
    },
    {
      name: 'TRT_VLA_ADDON_PATH names a shared library that is not a Node.js addon',
      env: () => {
        const file = path.join(scratch, 'plain-library.node');
        copyFileSync(library, file);
        return { TRT_VLA_ADDON_PATH: file };
      },
      cause: /plain-library\.node is a shared library but not a Node\.js addon \(it registers no module\)/,
      searched: /load error: .*did not self-register/,
      advice: /unset TRT_VLA_ADDON_PATH/,
    },
  );
}

describe('without a loadable native addon', () => {
  it('the test can forge a foreign binary: the copied library is an ELF file of this machine', () => {
    if (!library) return; // not Linux: those cases are not run
    const facts = describeBinaryHeader(readFileSync(library).subarray(0, 64));
    expect(facts).toMatchObject({ kind: 'elf', arch: process.arch });
  });

  for (const c of CASES) {
    it(`trt-vla info reports it: ${c.name}`, () => {
      const r = run(['info'], c.env());
      // README, "Exit codes": 1, with the ERR_CODE line on stderr; the report is on stdout.
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toContain(`trt-vla ${version}: the native addon is NOT loaded (${process.platform}-${process.arch}, Node.js ${process.version}, Node-API ${process.versions.napi}`);
      expect(r.stdout).toMatch(new RegExp(`^cause {6}.*${c.cause.source}`, 'm'));
      expect(r.stdout).toMatch(c.searched);
      const fixes = r.stdout.slice(r.stdout.indexOf('\nto fix\n'), r.stdout.indexOf('\nbackends\n'));
      expect(fixes).toMatch(c.advice);
      // Not circular: info is where the advice is, so it never sends the reader back to info.
      expect(fixes).not.toMatch(/trt-vla info|info\(\)/);
      expect(r.stdout).toMatch(/^ {2}cpu {7}unavailable \(no addon\)$/m);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^trt-vla info: ERR_ADDON_LOAD: the native addon did not load: .*${c.cause.source}`));
    });
  }

  it('trt-vla info --json holds the same report, every backend unavailable with the cause', () => {
    const c = CASES[0]!;
    const r = run(['info', '--json'], c.env());
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.package).toEqual({ name: 'trt-vla', version });
    expect(report.platform).toMatchObject({ platform: process.platform, arch: process.arch, node: process.version, napi: process.versions.napi });
    expect(report.addonLoaded).toBe(false);
    expect(report.addon.code).toBe('ERR_ADDON_LOAD');
    expect(report.addon.cause).toMatch(c.cause);
    expect(report.addon.candidates).toEqual([{ source: 'TRT_VLA_ADDON_PATH', location: c.env().TRT_VLA_ADDON_PATH, outcome: 'not-found', detail: 'no such file' }]);
    expect(report.addon.advice.join('\n')).toMatch(c.advice);
    for (const name of ['cpu', 'cuda', 'tensorrt']) {
      expect(report.backends[name]).toEqual({ compiled: false, available: false, reason: `the native addon did not load: ${report.addon.cause}` });
    }
    expect(report.build).toBeUndefined();
  });

  it('other commands fail with ERR_ADDON_LOAD, the cause, the fix and a pointer to trt-vla info, before writing anything', () => {
    const c = CASES[2]!;
    const out = path.join(scratch, 'model-never-written');
    const made = run(['make-model', '--preset', 'tiny', '--out', out], c.env());
    expect(made.status).toBe(1);
    expect(made.stderr).toMatch(/^trt-vla make-model: ERR_ADDON_LOAD: Could not load the trt-vla native addon/);
    expect(made.stderr).toMatch(c.cause);
    expect(made.stderr).toMatch(/npm rebuild trt-vla/);
    expect(made.stderr).toMatch(/`npx trt-vla info` \(or info\(\) from the API\) lists every place searched for the binary and why each one failed\.$/m);
    expect(existsSync(out)).toBe(false);

    const image = path.join(scratch, 'front.jpg');
    writeFileSync(image, 'not decoded: the model never loads');
    const history = path.join(scratch, 'history.json');
    writeFileSync(history, JSON.stringify([{ t: 0, x: 0, y: 0, ax: 0, ay: 0, speed: 3, steering: 0 }]));
    const planned = run(['plan', '--model', path.join(scratch, 'some-model'), '--image', image, '--history', history], c.env());
    expect(planned.status).toBe(1);
    expect(planned.stderr).toMatch(/^trt-vla plan: ERR_ADDON_LOAD: /);
    expect(planned.stderr).toMatch(/npx trt-vla info/);
  });

  it('the package imports, info() resolves with the report, loadModel rejects with ERR_ADDON_LOAD; the pure parts work', () => {
    const script = `
      const trt = await import(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const i = await trt.info();
      const err = await trt.loadModel(${JSON.stringify(path.join(scratch, 'some-model'))}).then(() => undefined, (e) => e);
      const prompt = trt.buildNuScenesPrompt({ history: [{ t: 0, x: 0, y: 0 }], statusWording: 'none' });
      let logError;
      try { trt.setLogLevel('info'); } catch (e) { logError = e.code; }
      console.log(JSON.stringify({ addonLoaded: i.addonLoaded, cause: i.addon.cause, code: err?.code, isTrtVlaError: err instanceof trt.TrtVlaError, message: err?.message, prompt: prompt.text.length > 0, logError }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: childEnv(CASES[0]!.env()), cwd: scratch });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout);
    expect(got).toMatchObject({ addonLoaded: false, code: 'ERR_ADDON_LOAD', isTrtVlaError: true, prompt: true, logError: 'ERR_ADDON_LOAD' });
    expect(got.cause).toMatch(CASES[0]!.cause);
    // loadModel says why the addon is missing before judging the (absent) model folder.
    expect(got.message).toMatch(CASES[0]!.cause);
    expect(got.message).toMatch(/`npx trt-vla info`/);
  });
});
