// The TensorRT backend's host-side rules that run without TensorRT: the plugin library file check
// before dlopen, plugin library resolution, CUDA-graph keys, and what info() and loadModel() say on a
// machine where TensorRT cannot run.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { info, loadModel, TrtVlaError } from '../../lib/index.js';
import { EDGELLM_PLUGIN_FILE, resolvePluginLibrary } from '../../lib/model/modelConfig.js';
import { testModel } from '../helpers/models.js';
import { testing } from '../helpers/native.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'trt-vla-plugin-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function library(name: string, mode = 0o644, dir = root): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, 'not really ELF');
  chmodSync(file, mode);
  return file;
}

describe('plugin library file check (before dlopen)', () => {
  it('accepts a file this user owns that only it can write', () => {
    expect(testing().libraryFileProblem(library('ok.so'))).toBe('');
  });

  it('refuses world-writable files, folders anyone can write to, non-files and missing files, saying why', () => {
    expect(testing().libraryFileProblem(library('open.so', 0o666))).toMatch(/world-writable: refusing .*chmod o-w/);
    const shared = path.join(root, 'shared');
    const planted = library('planted.so', 0o644, shared);
    chmodSync(shared, 0o777);
    expect(testing().libraryFileProblem(planted)).toMatch(/folder .*shared is world-writable/);
    chmodSync(shared, 0o1777); // sticky, like /tmp: others cannot replace our file
    expect(testing().libraryFileProblem(planted)).toBe('');
    chmodSync(shared, 0o755);
    expect(testing().libraryFileProblem(root)).toMatch(/is not a regular file/);
    expect(testing().libraryFileProblem(path.join(root, 'missing.so'))).toMatch(/cannot read .*missing.so: No such file/);
  });

  it('checks the file a symlink points to', () => {
    const target = library('target.so', 0o666);
    const link = path.join(root, 'link.so');
    symlinkSync(target, link);
    expect(testing().libraryFileProblem(link)).toMatch(/world-writable/);
  });

  it('checks every folder on the way, as the kernel resolves the path for dlopen', () => {
    const problem = (p: string) => testing().libraryFileProblem(p);
    // A world-writable folder two levels up: anyone could rename the folder below it and plant another.
    const open = path.join(root, 'open');
    const deep = library('deep.so', 0o644, path.join(open, 'sub', 'lib'));
    chmodSync(open, 0o777);
    expect(problem(deep)).toMatch(/the folder .*\/open is world-writable: anyone could replace .*deep\.so through it/);
    chmodSync(open, 0o755);
    expect(problem(deep)).toBe('');
    // A symlink from a protected folder into a world-writable one.
    const drop = path.join(root, 'drop');
    const dropped = library('dropped.so', 0o644, drop);
    chmodSync(drop, 0o777);
    mkdirSync(path.join(root, 'safe'));
    symlinkSync(dropped, path.join(root, 'safe', 'link.so'));
    expect(problem(path.join(root, 'safe', 'link.so'))).toMatch(/the folder .*\/drop is world-writable: anyone could replace .*link\.so through it/);
    // A symlink to a protected library that itself sits in a world-writable folder (anyone can re-point it).
    const protectedLib = library('protected.so', 0o644, path.join(root, 'protected'));
    symlinkSync(protectedLib, path.join(drop, 'redirect.so'));
    expect(problem(path.join(drop, 'redirect.so'))).toMatch(/the folder .*\/drop is world-writable: anyone could replace .*redirect\.so through it/);
    // A relative path is walked from the current folder; a bare name is refused, since dlopen would
    // search the system's library folders for it instead.
    expect(problem(path.relative(process.cwd(), dropped))).toMatch(/the folder .*\/drop is world-writable/);
    expect(problem(path.relative(process.cwd(), protectedLib))).toBe('');
    expect(problem('libNvInfer_edgellm_plugin.so')).toMatch(/has no '\/'/);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a library in a folder owned by another user (not root, not this user)', () => {
    const foreign = path.join(root, 'foreign');
    const lib = library('foreign.so', 0o644, path.join(foreign, 'lib'));
    chownSync(foreign, 54321, 54321);
    expect(testing().libraryFileProblem(lib)).toMatch(/the folder .*\/foreign is owned by user id 54321, neither this user nor root: that user could replace .*foreign\.so/);
    // reached through a symlink from a folder of ours
    symlinkSync(lib, path.join(root, 'to-foreign.so'));
    expect(testing().libraryFileProblem(path.join(root, 'to-foreign.so'))).toMatch(/owned by user id 54321/);
  });
});

describe('plugin library resolution', () => {
  const plugin = library('libNvInfer_edgellm_plugin.so');

  it('takes the option, then TRT_VLA_PLUGIN_PATH, then EDGELLM_PLUGIN_PATH, then the model folder', () => {
    const other = library('other.so');
    const env = { TRT_VLA_PLUGIN_PATH: other, EDGELLM_PLUGIN_PATH: plugin };
    expect(resolvePluginLibrary('/nowhere', plugin, env)).toBe(plugin);
    expect(resolvePluginLibrary('/nowhere', undefined, env)).toBe(other);
    expect(resolvePluginLibrary('/nowhere', undefined, { EDGELLM_PLUGIN_PATH: plugin })).toBe(plugin);
    expect(resolvePluginLibrary(root, undefined, {})).toBe(path.join(root, EDGELLM_PLUGIN_FILE));
  });

  it('fails with a message naming the source, or telling where to put the library', () => {
    expect(() => resolvePluginLibrary('/nowhere', undefined, { TRT_VLA_PLUGIN_PATH: '/nope/lib.so' })).toThrow(/TRT_VLA_PLUGIN_PATH does not exist: \/nope\/lib.so/);
    try {
      resolvePluginLibrary('/nowhere', undefined, {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(TrtVlaError);
      expect((err as TrtVlaError).code).toBe('ERR_MODEL_LOAD');
      expect((err as Error).message).toMatch(/need the plugin library libNvInfer_edgellm_plugin.so: pass options.pluginLibrary, set TRT_VLA_PLUGIN_PATH/);
    }
  });
});

describe('CUDA graph keys', () => {
  const base = {
    profile: 1,
    shapes: [
      ['inputs_embeds', [1, 1, 128]],
      ['kvcache_start_index', [1]],
    ] as [string, number[]][],
    addresses: [
      ['inputs_embeds', 0x7f0000001000n],
      ['logits', 0x7f0000002000n],
    ] as [string, bigint][],
  };
  const hash = (k: typeof base) => testing().graphKeyHash(k);

  it('does not depend on the order bindings were made in', () => {
    expect(hash({ ...base, shapes: [...base.shapes].reverse(), addresses: [...base.addresses].reverse() })).toBe(hash(base));
  });

  it('changes with the profile, any shape and any address', () => {
    const seen = new Set([hash(base)]);
    seen.add(hash({ ...base, profile: 0 }));
    seen.add(hash({ ...base, shapes: [['inputs_embeds', [1, 2, 128]], base.shapes[1]!] }));
    seen.add(hash({ ...base, shapes: [['inputs_embeds', [1, 1, 128]], ['kvcache_start_index', [0]]] }));
    seen.add(hash({ ...base, addresses: [['inputs_embeds', 0x7f0000001000n], ['logits', 0x7f0000002010n]] }));
    seen.add(hash({ ...base, addresses: [['inputs_embeds', 0x7f0000002000n], ['logits', 0x7f0000001000n]] }));
    expect(seen.size).toBe(6);
  });
});

describe('TensorRT on a machine without it', () => {
  it('info() says whether TensorRT is compiled in and why it cannot run', async () => {
    const i = await info();
    const trt = i.backends.tensorrt;
    if (!trt.available) expect(trt.reason).toMatch(/\w/);
    if (!trt.compiled) expect(i.build?.backends).not.toContain('tensorrt');
  });

  it("loadModel(..., { backend: 'tensorrt' }) fails with ERR_BACKEND_UNAVAILABLE and the reason", async () => {
    const i = await info();
    if (i.backends.tensorrt.available) return; // a Jetson: covered by the GPU tests
    const dir = await testModel('tiny', 'awq');
    const err = await loadModel(dir, { backend: 'tensorrt' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrtVlaError);
    expect((err as TrtVlaError).code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect((err as Error).message).toContain(i.backends.tensorrt.reason!);
  });
});
