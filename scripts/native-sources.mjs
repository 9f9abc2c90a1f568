#!/usr/bin/env node
// Prints one group of native/sources.json, space-separated, for binding.gyp's <!@(...) expansion.
// CMakeLists.txt reads the same file directly, so the list exists once.
import { readFileSync } from 'node:fs';

const groups = JSON.parse(readFileSync(new URL('../native/sources.json', import.meta.url), 'utf8'));
const name = process.argv[2];
if (!Array.isArray(groups[name])) {
  console.error(`native-sources: unknown group '${name}'`);
  process.exit(1);
}
process.stdout.write(groups[name].join(' '));
