// Types for build-progress.mjs (the tests import it from TypeScript).
export interface BuildLine {
  kind: 'compile' | 'link' | 'other-step' | 'status' | 'diagnostic' | 'noise';
  step?: number;
  total?: number;
  percent?: number;
  what?: string;
  text: string;
}
export function classifyBuildLine(line: string): BuildLine;
export function sourceOfObject(objectPath: string): string;
export function formatDuration(ms: number): string;
export interface BuildReporter {
  write(chunk: string | Buffer): void;
  end(): void;
  phase(name: string, detail?: string): void;
  elapsed(): string;
  log(): string[];
}
export function createBuildReporter(options: {
  say: (line: string) => void;
  sayThrottled?: (line: string) => void;
  throttleMs?: number;
  now?: () => number;
}): BuildReporter;
