/** `trt-vla serve`: the planner as a long-running HTTP service (see lib/serve/). */
import { parseArgs } from 'node:util';

import { loadModel } from '../model/Model.js';
import { createPlannerServer } from '../serve/server.js';
import { PROMPT_PROFILES, type PromptProfile } from '../serve/ncapPlanner.js';
import { invalidArgument } from '../validate.js';

const HELP = `Usage: trt-vla serve --model DIR [--host 127.0.0.1] [--port 9000]
                     [--profile training|impromptu-ncap] [--format nuscenes|q7]
                     [--token TOKEN] [--insecure] [--queue N] [--body-limit MB]
                     [--temperature T] [--backend auto|cpu|tensorrt] [--threads N]
                     [--plugin libNvInfer_edgellm_plugin.so] [--no-cuda-graphs]

Serves the planner over HTTP until SIGINT / SIGTERM:
  GET /alive, POST /reset, POST /infer   NeuroNCAP's model-node API
  GET /v1/models, POST /v1/chat/completions   OpenAI-compatible chat (text + data-URL images)
  GET /metrics                           Prometheus metrics
  GET /                                  live view of the latest plan

--profile training (default) prompts /infer in the format the checkpoint was trained on;
impromptu-ncap reproduces Impromptu's own NeuroNCAP node byte for byte. --format q7 uses the
front, front-right and front-left cameras. A host other than loopback needs --token (or
TRT_VLA_TOKEN): clients send "Authorization: Bearer TOKEN"; --insecure serves without one.
--queue bounds the planning requests admitted at once (more get 503 + Retry-After; default 8).
--body-limit is in MiB (default 64; a NeuroNCAP body carries six raw camera images).`;

function number(value: string | undefined, name: string, min: number, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw invalidArgument(name, `${integer ? 'an integer' : 'a number'} >= ${min}`, value);
  return n;
}

export const serveCommand = {
  summary: 'serve the planner over HTTP (NeuroNCAP, OpenAI-compatible chat, live view)',
  async run(argv: string[]): Promise<number> {
    const { values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '9000' },
        profile: { type: 'string', default: 'training' },
        format: { type: 'string', default: 'nuscenes' },
        token: { type: 'string' },
        insecure: { type: 'boolean', default: false },
        queue: { type: 'string' },
        'body-limit': { type: 'string' },
        temperature: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        threads: { type: 'string' },
        plugin: { type: 'string' },
        'no-cuda-graphs': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (!values.model) throw invalidArgument('--model', 'a model directory', values.model);
    if (!(PROMPT_PROFILES as readonly string[]).includes(values.profile)) throw invalidArgument('--profile', PROMPT_PROFILES.map((p) => `'${p}'`).join(' or '), values.profile);
    if (values.format !== 'nuscenes' && values.format !== 'q7') throw invalidArgument('--format', "'nuscenes' or 'q7'", values.format);
    const port = number(values.port, '--port', 0, true)!;
    const queueLimit = number(values.queue, '--queue', 1, true);
    const bodyLimitMb = number(values['body-limit'], '--body-limit', 1, false);
    const temperature = number(values.temperature, '--temperature', 0, false);
    const token = values.token ?? process.env.TRT_VLA_TOKEN;

    const model = await loadModel(values.model, {
      backend: values.backend as 'auto',
      threads: number(values.threads, '--threads', 1, true),
      pluginLibrary: values.plugin,
      cudaGraphs: !values['no-cuda-graphs'],
    });
    let server;
    try {
      server = await createPlannerServer(model, {
        host: values.host,
        port,
        profile: values.profile as PromptProfile,
        format: values.format,
        token,
        insecure: values.insecure,
        queueLimit,
        bodyLimit: bodyLimitMb === undefined ? undefined : Math.round(bodyLimitMb * 1024 * 1024),
        sampling: temperature === undefined ? undefined : { temperature },
      });
      const { url } = await server.listen();
      console.error(`trt-vla serve: ${model.backend.backend} backend (${model.backend.reason}), profile ${values.profile}, format ${values.format}`);
      console.error(`trt-vla serve: listening on ${url} (live view: ${url}/${token ? '?token=…' : ''})`);
    } catch (err) {
      await server?.close();
      await model.dispose();
      throw err;
    }
    // Graceful shutdown: stop accepting, finish in-flight plans, then free the model.
    const running = server;
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        console.error(`trt-vla serve: ${signal}: finishing in-flight requests, then exiting`);
        running
          .close()
          .catch((err: unknown) => console.error(`trt-vla serve: closing the server failed: ${(err as Error).message}`))
          .then(() => model.dispose())
          .finally(resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    console.error('trt-vla serve: stopped');
    return 0;
  },
};
