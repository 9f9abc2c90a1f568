#!/usr/bin/env node
// Prints groups of native/sources.json, space-separated, for binding.gyp's <!@(...) expansion.
// CMakeLists.txt reads the same file directly, so the list exists once.
//
//   node scripts/native-sources.mjs GROUP...
import { readFileSync } from 'node:fs';

const groups = JSON.parse(readFileSync(new URL('../native/sources.json', import.meta.url), 'utf8'));
const names = process.argv.slice(2);
for (const name of names) {
  if (!Array.isArray(groups[name])) {
    console.error(`native-sources: unknown group '${name}'`);
    process.exit(1);
  }
}
process.stdout.write(names.flatMap((name) => groups[name]).join(' '));
