#!/usr/bin/env node
// Prints the short git revision of this checkout, or "unknown" outside a git checkout (e.g. a tarball).
import { execFileSync } from 'node:child_process';

try {
  const rev = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  process.stdout.write(rev.toString().trim());
} catch {
  process.stdout.write('unknown');
}
