#!/usr/bin/env node
/** The `trt-vla` command line: one module per command under lib/cli/. */
import { TrtVlaError } from '../errors.js';

interface Command {
  summary: string;
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
};

function usage(): string {
  return [
    'Usage: trt-vla <command> [options]',
    '',
    'Commands:',
    '  info [--json] [--model DIR]',
    '                    backends, device, versions, and why a backend is unavailable; a model folder\'s',
    '                    Edge-LLM release, build flags and default sampling',
    '  plan --model DIR --image FILE --history FILE [--format nuscenes|q7] [--mode fast|slow] [--json] [--viz FILE.png]',
    '                    plan a trajectory from camera images and an ego history',
    '  bench [--model DIR] [--frames N] [--sessions K] [--json FILE] [--html FILE]',
    '                    FPS benchmark of the plan pipeline (default: the tiny demo model on the CPU)',
    '  serve --model DIR [--host 127.0.0.1] [--port 9000] [--profile training|impromptu-ncap]',
    '                    the planner as an HTTP service: NeuroNCAP model node, OpenAI-compatible chat, live view',
    '  parity --model DIR --reference CHECKPOINT [--image FILE ...] [--steps N] [--json]',
    '                    compare a bundle\'s engines with the CPU engine of its reference checkpoint',
    '  make-model        write a Qwen2.5-VL-shaped model with seeded random weights',
    '  quantize          int4 round-to-nearest quantization of a bf16 checkpoint (AutoAWQ packing)',
    '  eval --pred FILE --gt FILE [--format nuscenes|q7] [--json]',
    '                    open-loop L2 / collision metrics of predictions against ground truth',
    '',
    'Run `trt-vla <command> --help` for a command\'s options.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    console.log(pkg.version);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`trt-vla: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof TrtVlaError) {
      console.error(`trt-vla: ${err.code}: ${err.message}`);
    } else {
      console.error(err);
    }
    process.exitCode = 1;
  },
);
