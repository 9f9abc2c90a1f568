#!/usr/bin/env node
// Writes build-info.json next to a built .node file (node-gyp builds; CMake writes its own). The facts
// come from the binary itself, so the file cannot disagree with what was compiled.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const addon = path.resolve(process.argv[2] ?? '');
const info = createRequire(import.meta.url)(addon).buildInfo();
writeFileSync(path.join(path.dirname(addon), 'build-info.json'), `${JSON.stringify(info, null, 2)}\n`);
