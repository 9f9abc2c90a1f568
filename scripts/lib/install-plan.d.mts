// Types for install-plan.mjs (the tests import it from TypeScript).
export interface InstallFacts {
  forceSource: boolean;
  existing: string | undefined;
  probe: { ok: boolean; info?: { backends: string[] }; error?: string } | undefined;
  toolchain: { found: boolean; version?: string; reason?: string };
  jetson: string | undefined;
  target: string;
}
export function planInstall(facts: InstallFacts): { action: 'use'; why: string } | { action: 'build'; reason: string };
