// Types for toolchain.mjs (the tests import it from TypeScript).
export function jetsonRelease(): string | undefined;
export function findNvcc(env?: NodeJS.ProcessEnv): string | undefined;
export function findTensorrtHeaders(env?: NodeJS.ProcessEnv): { includeDir: string; version: string } | undefined;
export function detectTensorrtToolchain(env?: NodeJS.ProcessEnv):
  | { found: true; version: string; includeDir: string; nvcc: string }
  | { found: false; reason: string; version?: undefined };
export function hasCommand(name: string): boolean;
