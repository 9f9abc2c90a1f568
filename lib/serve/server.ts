/**
 * createPlannerServer: the planner as an HTTP service on Fastify (JSON-schema validation, body
 * limits, hooks). NeuroNCAP's model-node endpoints, an OpenAI-compatible chat subset, Prometheus
 * metrics and a live view, on top of the public Model API.
 */
import { timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { TrtVlaError } from '../errors.js';
import type { Model } from '../model/Model.js';
import type { SamplingOptions } from '../model/types.js';
import type { QwenTokenizer } from '../tokenizer/QwenTokenizer.js';
import { LIVE_PAGE_HTML, LiveView } from './liveView.js';
import { ServiceMetrics } from './metrics.js';
import { NcapPlanner, PROMPT_PROFILES, type InferBody, type InferRecord, type PromptProfile } from './ncapPlanner.js';
import {
  CHAT_COMPLETION_SCHEMA,
  chunkObject,
  completionId,
  completionObject,
  finishReason,
  parseChatBody,
  runChat,
  UnsupportedParameter,
  usageOf,
  type ChatCompletionBody,
} from './openaiChat.js';

export interface PlannerServerOptions {
  /** Interface to bind. Default 127.0.0.1; anything not loopback needs `token` or `insecure`. */
  host?: string;
  /** Default 9000 (NeuroNCAP's ModelConfig default); 0 picks a free port. */
  port?: number;
  /** /infer prompt profile: 'training' (default) or 'impromptu-ncap'. */
  profile?: PromptProfile;
  /** The checkpoint's answer format: 'nuscenes' (default) or 'q7' (3 cameras). */
  format?: 'nuscenes' | 'q7';
  /** Sampling for /infer. Default: the model's generation_config (greedy for Impromptu's checkpoints). */
  sampling?: SamplingOptions;
  /** Bearer token every request must carry (`Authorization: Bearer …`, or `?token=` for the page). */
  token?: string;
  /** Allow a non-loopback host without a token. */
  insecure?: boolean;
  /** Planning requests admitted at once (waiting or running); more get 503 + Retry-After. Default 8. */
  queueLimit?: number;
  /** Largest request body, bytes. Default 64 MiB (a NeuroNCAP body carries six raw images). */
  bodyLimit?: number;
  /** Model id for /v1/models. Default: the model folder's name. */
  modelName?: string;
  /** Where log lines go. Default: stderr. */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Called after every /infer (tests, embedding applications). */
  onInfer?: (record: InferRecord) => void;
}

export interface PlannerServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Stops accepting, finishes in-flight requests, ends live-view streams. Does not dispose the model. */
  close(): Promise<void>;
  readonly app: FastifyInstance;
  readonly metrics: ServiceMetrics;
}

const DEFAULT_QUEUE_LIMIT = 8;
const DEFAULT_BODY_LIMIT = 64 * 1024 * 1024;
const RETRY_AFTER_S = 1;

/** Routes whose requests take a queue slot. */
const PLANNING_ROUTES = new Set(['/infer', '/v1/chat/completions']);

const MATRIX = (n: number, m: number) => ({ type: 'array', minItems: n, maxItems: n, items: { type: 'array', minItems: m, maxItems: m, items: { type: 'number' } } });

const INFER_SCHEMA = {
  type: 'object',
  required: ['images', 'ego2world', 'canbus', 'timestamp', 'command'],
  properties: {
    images: { type: 'object', additionalProperties: { type: 'string' } },
    ego2world: MATRIX(4, 4),
    canbus: { type: 'array', minItems: 16, maxItems: 18, items: { type: 'number' } },
    timestamp: { type: 'integer' },
    command: { enum: [0, 1, 2] },
    calibration: {
      type: 'object',
      properties: {
        camera2image: { type: 'object', additionalProperties: MATRIX(3, 3) },
        camera2ego: { type: 'object', additionalProperties: MATRIX(4, 4) },
        lidar2ego: MATRIX(4, 4),
      },
    },
  },
} as const;

/** An error as OpenAI's API shapes it; used by every endpoint so clients parse one shape. */
function sendError(reply: FastifyReply, status: number, code: string, message: string, param: string | null = null): FastifyReply {
  const type = status === 401 ? 'authentication_error' : status === 503 ? 'overloaded_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return reply.code(status).type('application/json').send({ error: { message, type, param, code } });
}

/** Fastify's own errors (body parsing, validation, limits) as stable codes. */
function fastifyErrorCode(err: FastifyError): { status: number; code: string } {
  if (err.validation) return { status: 400, code: 'invalid_request_body' };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'body_too_large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'unsupported_media_type' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, code: 'invalid_json' };
    default:
      if (err instanceof SyntaxError) return { status: 400, code: 'invalid_json' };
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, code: 'bad_request' };
      return { status: 500, code: 'internal_error' };
  }
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

function tokenMatches(expected: Buffer, given: string | undefined): boolean {
  if (given === undefined) return false;
  const g = Buffer.from(given);
  return g.length === expected.length && timingSafeEqual(g, expected);
}

/** Creates the service for a loaded model. The caller keeps ownership of the model (and disposes it). */
export async function createPlannerServer(model: Model, options: PlannerServerOptions = {}): Promise<PlannerServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 9000;
  const profile = options.profile ?? 'training';
  if (!PROMPT_PROFILES.includes(profile)) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `profile must be one of ${PROMPT_PROFILES.join(', ')}, got ${String(profile)}`);
  const format = options.format ?? 'nuscenes';
  if (format !== 'nuscenes' && format !== 'q7') throw new TrtVlaError('ERR_INVALID_ARGUMENT', `format must be 'nuscenes' or 'q7', got ${String(format)}`);
  const queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  if (!Number.isInteger(queueLimit) || queueLimit < 1) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `queueLimit must be a positive integer, got ${queueLimit}`);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `bodyLimit must be an integer ≥ 1024 bytes, got ${bodyLimit}`);
  const token = options.token === undefined || options.token === '' ? undefined : Buffer.from(options.token);
  if (!isLoopback(host) && !token && !options.insecure) {
    throw new TrtVlaError(
      'ERR_INVALID_ARGUMENT',
      `refusing to listen on the non-loopback host ${host} without a bearer token: give --token / TRT_VLA_TOKEN, or --insecure to accept anyone on the network`,
    );
  }
  const log = options.log ?? ((level, message) => process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`));
  const modelId = options.modelName ?? path.basename(path.resolve(model.dir));

  const tokenizer = await tokenizerOf(model);
  const planner = new NcapPlanner(model, tokenizer, { profile, format, sampling: options.sampling });
  const metrics = new ServiceMetrics(queueLimit);
  const live = new LiveView();

  // Loaded here, so that importing trt-vla does not load the HTTP stack.
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ bodyLimit, logger: false, ajv: { customOptions: { coerceTypes: false, removeAdditional: false } } });

  // Admission before the body is read: a full queue costs the server no memory.
  app.addHook('onRequest', async (request, reply) => {
    if (token) {
      const header = request.headers.authorization;
      const bearer = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
      const query = (request.query as Record<string, string | undefined>)?.token;
      if (!tokenMatches(token, bearer) && !tokenMatches(token, query)) {
        metrics.rejected.inc({ reason: 'unauthorized' });
        return sendError(reply, 401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer <token>)');
      }
    }
    if (request.method === 'POST' && PLANNING_ROUTES.has(request.routeOptions.url ?? '')) {
      if (metrics.queueDepth >= queueLimit) {
        metrics.rejected.inc({ reason: 'queue_full' });
        reply.header('retry-after', String(RETRY_AFTER_S));
        return sendError(reply, 503, 'queue_full', `the planning queue is full (${queueLimit} requests); retry after ${RETRY_AFTER_S} s`);
      }
      metrics.queueDepth++;
      metrics.queueDepthMax = Math.max(metrics.queueDepthMax, metrics.queueDepth);
      (request as FastifyRequest & { admitted?: boolean }).admitted = true;
    }
  });
  type Admitted = FastifyRequest & { admitted?: boolean; planning?: boolean };
  const release = (request: FastifyRequest): void => {
    const r = request as Admitted;
    if (r.admitted) {
      r.admitted = false;
      metrics.queueDepth--;
    }
  };
  // A slot is held until the plan is done, not merely until the client goes away: a client that
  // aborts cannot make the server queue unbounded work.
  const planning = async <T>(request: FastifyRequest, work: () => Promise<T>): Promise<T> => {
    (request as Admitted).planning = true;
    try {
      return await work();
    } finally {
      release(request);
    }
  };
  app.addHook('onResponse', async (request) => release(request));
  app.addHook('onRequestAbort', async (request) => {
    if (!(request as Admitted).planning) release(request);
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof UnsupportedParameter) {
      metrics.rejected.inc({ reason: 'bad_request' });
      return sendError(reply, 400, 'unsupported_parameter', err.message, err.param);
    }
    if (err instanceof TrtVlaError) {
      const status = err.code === 'ERR_INVALID_ARGUMENT' ? 400 : err.code === 'ERR_DISPOSED' ? 503 : 500;
      if (status === 400) metrics.rejected.inc({ reason: 'bad_request' });
      else log('error', `${request.method} ${request.url}: ${err.code}: ${err.message}`);
      return sendError(reply, status, status === 400 ? 'invalid_request' : status === 503 ? 'shutting_down' : 'internal_error', err.message);
    }
    const { status, code } = fastifyErrorCode(err);
    if (status >= 500) log('error', `${request.method} ${request.url}: ${err.stack ?? err.message}`);
    else metrics.rejected.inc({ reason: code });
    return sendError(reply, status, code, status >= 500 ? 'internal error' : err.message);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`));

  // --- NeuroNCAP model node (neuro_ncap/utils/web.py, components/model_api.py) -----------------
  app.get('/alive', async () => true);
  app.post('/reset', async () => {
    await planner.reset();
    return true;
  });
  app.post('/infer', { schema: { body: INFER_SCHEMA } }, async (request) => {
    const started = performance.now();
    const record = await planning(request, () => planner.infer(request.body as InferBody));
    metrics.plans.inc({ endpoint: 'infer' });
    if (record.failed) {
      metrics.failures.inc({ endpoint: 'infer' });
      log('warn', `/infer t=${record.timestampUs}: planning failed, answering six zeros (brake): ${record.error}`);
    }
    observeStages(metrics, record, performance.now() - started);
    live.publish(record);
    options.onInfer?.(record);
    return { trajectory: record.trajectory, aux_outputs: {} };
  });

  // --- OpenAI-compatible subset ---------------------------------------------------------------
  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: modelId, object: 'model', created: 0, owned_by: 'trt-vla' }] }));
  app.post('/v1/chat/completions', { schema: { body: CHAT_COMPLETION_SCHEMA } }, async (request, reply) => {
    const started = performance.now();
    const chat = parseChatBody(request.body as ChatCompletionBody);
    const { id, created } = completionId();
    if (!chat.stream) {
      const result = await planning(request, () => runChat(model, tokenizer, chat));
      metrics.plans.inc({ endpoint: 'chat' });
      metrics.stages.observe({ stage: 'request', endpoint: 'chat' }, (performance.now() - started) / 1000);
      return completionObject(id, created, modelId, result);
    }
    // Streaming: errors before the first byte are ordinary JSON errors; after it, an error event.
    let opened = false;
    const open = (): void => {
      if (opened) return;
      opened = true;
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      reply.raw.write(`data: ${JSON.stringify(chunkObject(id, created, modelId, { role: 'assistant', content: '' }, null))}\n\n`);
    };
    const send = (object: unknown): void => {
      reply.raw.write(`data: ${JSON.stringify(object)}\n\n`);
    };
    try {
      (request as Admitted).planning = true;
      const result = await runChat(model, tokenizer, chat, (text) => {
        open();
        send(chunkObject(id, created, modelId, { content: text }, null));
      });
      open();
      send(chunkObject(id, created, modelId, {}, finishReason(result)));
      if (chat.includeUsage) send(chunkObject(id, created, modelId, undefined, null, usageOf(result)));
      reply.raw.end('data: [DONE]\n\n');
      metrics.plans.inc({ endpoint: 'chat' });
      metrics.stages.observe({ stage: 'request', endpoint: 'chat' }, (performance.now() - started) / 1000);
    } catch (err) {
      if (!opened) throw err;
      log('error', `streamed chat completion failed: ${(err as Error).message}`);
      send({ error: { message: (err as Error).message, type: 'server_error', param: null, code: 'generation_failed' } });
      reply.raw.end('data: [DONE]\n\n');
    } finally {
      release(request);
    }
    return reply;
  });

  // --- Service --------------------------------------------------------------------------------
  app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()));
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(LIVE_PAGE_HTML));
  app.get('/events', (_request, reply) => {
    reply.hijack();
    live.subscribe(reply.raw);
  });
  app.get('/frame.jpg', async (_request, reply) => {
    const jpeg = await live.frameJpeg();
    if (!jpeg) return sendError(reply, 404, 'no_frame', 'no front camera frame yet');
    return reply.type('image/jpeg').header('cache-control', 'no-store').send(jpeg);
  });
  // Shutdown: end the live-view streams, and close each keep-alive connection after its answer
  // (Fastify closes the idle ones once, at the start; busy ones would otherwise linger).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    live.closeAll();
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  return {
    app,
    metrics,
    async listen() {
      await app.listen({ host, port });
      const address = app.server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      return { host, port: bound, url: `http://${shownHost}:${bound}` };
    },
    close: () => app.close(),
  };
}

/** The model's tokenizer files, read once per model (several servers may share one model). */
const tokenizers = new WeakMap<Model, Promise<QwenTokenizer>>();
function tokenizerOf(model: Model): Promise<QwenTokenizer> {
  let tokenizer = tokenizers.get(model);
  if (!tokenizer) {
    tokenizer = import('../tokenizer/QwenTokenizer.js').then(({ QwenTokenizer }) => QwenTokenizer.load(model.files.llm.tokenizerDir));
    tokenizers.set(model, tokenizer);
    tokenizer.catch(() => tokenizers.delete(model));
  }
  return tokenizer;
}

function observeStages(metrics: ServiceMetrics, record: InferRecord, requestMs: number): void {
  const observe = (stage: string, ms: number) => metrics.stages.observe({ stage, endpoint: 'infer' }, ms / 1000);
  observe('image_decode', record.imageDecodeMs);
  const t = record.timings;
  if (t) {
    observe('preprocess', t.preprocessMs);
    observe('vision', t.visionMs);
    observe('embed', t.embedMs);
    observe('prefill', t.prefillMs);
    observe('decode', t.decodeMs);
    observe('model', t.endToEndMs);
  }
  observe('request', requestMs);
}
