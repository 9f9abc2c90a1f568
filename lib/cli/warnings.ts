/** The banner of a model's warnings (random weights), on stderr so that --json output stays parseable. */
export function printModelWarnings(warnings: readonly string[]): void {
  for (const w of warnings) console.error(`trt-vla: WARNING: ${w}`);
}
