#!/usr/bin/env node
/**
 * The `trt-vla` command line: one module per command under lib/cli/. Exit codes (README, "Command line"):
 * 0 success; 1 the work failed (the TrtVlaError's code and message, one line); 2 a usage error (one line
 * naming the problem, then the command's usage); 3 `plan` ran but an answer was incomplete, `eval` could
 * not score every record, `replay` found different tokens.
 */
import { TrtVlaError } from '../errors.js';
import { UsageError } from './args.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

interface Command {
  summary: string;
  /** The synopsis printed after a usage error. */
  usage?: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  info: async () => (await import('./info.js')).infoCommand,
  'make-model': async () => (await import('./makeModel.js')).makeModelCommand,
  quantize: async () => (await import('./quantize.js')).quantizeCommand,
  eval: async () => (await import('./eval.js')).evalCommand,
  plan: async () => (await import('./plan.js')).planCommand,
  bench: async () => (await import('./bench.js')).benchCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  parity: async () => (await import('./parity.js')).parityCommand,
  replay: async () => (await import('./replay.js')).replayCommand,
};

function usage(): string {
  return [
    'Usage: trt-vla <command> [options]',
    '',
    'Commands:',
    '  info [--json] [--model DIR]',
    '                    backends, device, versions, and why a backend is unavailable; a model folder\'s',
    '                    Edge-LLM release, build flags and default sampling',
    '  plan --model DIR --image FILE --history FILE [--format nuscenes|q7] [--status-wording speed|velocity-x|none]',
    '       [--mode fast|slow] [--json] [--viz FILE.png]',
    '                    plan a trajectory from camera images and an ego history',
    '  bench [--model DIR] [--frames N] [--sessions K] [--json FILE] [--html FILE]',
    '                    FPS benchmark of the plan pipeline (default: the tiny demo model on the CPU)',
    '  serve --model DIR [--host 127.0.0.1] [--port 9000] [--profile training|impromptu-ncap]',
    '                    the planner as an HTTP service: NeuroNCAP model node, OpenAI-compatible chat, live view',
    '  parity --model DIR --reference CHECKPOINT [--image FILE ...] [--steps N] [--json]',
    '                    compare a bundle\'s engines with the CPU engine of its reference checkpoint',
    '  replay RECORD_DIR [--model DIR] [--allow-diff] [--json]',
    '                    re-run a `plan`/`bench --record` run and compare tokens, waypoints and timings',
    '  make-model        write a Qwen2.5-VL-shaped model with seeded random weights',
    '  quantize          int4 round-to-nearest quantization of a bf16 checkpoint (AutoAWQ packing)',
    '  eval --pred FILE --gt FILE [--format nuscenes|q7] [--json]',
    '                    open-loop L2 / collision metrics of predictions against ground truth',
    '',
    'Run `trt-vla <command> --help` for a command\'s options.',
  ].join('\n');
}

/** One line for the problem, then the usage, on stderr; exit code 2. */
function usageFailure(prefix: string, problem: string, synopsis: string): number {
  console.error(`${prefix}: ${problem}\n\n${synopsis}`);
  return EXIT_USAGE;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return EXIT_OK;
  }
  if (!name) return usageFailure('trt-vla', 'no command given', usage());
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    console.log(pkg.version);
    return EXIT_OK;
  }
  const load = COMMANDS[name];
  if (!load) return usageFailure('trt-vla', `unknown command '${name}'`, usage());
  const command = await load();
  const prefix = `trt-vla ${name}`;
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      return usageFailure(prefix, err.message, `${command.usage ?? `Usage: trt-vla ${name} [options]`}\nRun \`trt-vla ${name} --help\` for details.`);
    }
    if (err instanceof TrtVlaError) {
      console.error(`${prefix}: ${err.code}: ${err.message}`);
    } else {
      // Not a trt-vla error: the message, and the stack only when asked for (a bug report).
      console.error(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
      if (process.env.TRT_VLA_DEBUG && err instanceof Error && err.stack) console.error(err.stack);
    }
    return EXIT_FAILED;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`trt-vla: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = EXIT_FAILED;
  },
);
