/**
 * The NeuroNCAP model node's planning: one run's history, the chosen prompt profile, the model call,
 * and the answer NeuroNCAP reads (speculation-and-closed-loop.md §1.2-1.8).
 */
import type { Waypoint } from '../action/planningTypes.js';
import { TrtVlaError } from '../errors.js';
import type { FrameBuffer } from '../frame.js';
import type { Model } from '../model/Model.js';
import type { SamplingOptions, Timings } from '../model/types.js';
import type { EgoHistoryEntry } from '../prompt/egoHistory.js';
import { planHistory } from '../prompt/historyFields.js';
import { buildPlanningPrompt } from '../prompt/planningPrompt.js';
import { imageTokenCount } from '../tokenizer/chatTemplate.js';
import type { QwenTokenizer } from '../tokenizer/QwenTokenizer.js';
import { encodeChatTurns } from './chatPrompt.js';
import { decodeBase64, decodeImage, imageToFrame, type RgbImage } from './images.js';
import { IMPROMPTU_NCAP_CAMERA, IMPROMPTU_NCAP_MAX_TOKENS, impromptuExtractTrajectory, impromptuNcapPrompt } from './impromptuNcap.js';
import { RunHistory, type Matrix4 } from './ncapHistory.js';

/** Prompt profiles of /infer. */
export const PROMPT_PROFILES = ['training', 'impromptu-ncap'] as const;
export type PromptProfile = (typeof PROMPT_PROFILES)[number];

/** The body NeuroNCAP posts to /infer (`model_api.py::ModelInput.to_json_dict`). */
export interface InferBody {
  images: Record<string, string>;
  ego2world: number[][];
  canbus: number[];
  timestamp: number;
  command: 0 | 1 | 2;
  calibration?: {
    camera2image?: Record<string, number[][]>;
    camera2ego?: Record<string, number[][]>;
    lidar2ego?: number[][];
  };
}

/** The answer: 6 points at +0.5 … +3.0 s, metres, current ego frame, x forward, y left. */
export interface InferResponse {
  trajectory: [number, number][];
  aux_outputs: Record<string, never>;
}

/** What one /infer did, for the live view, metrics and tests. */
export interface InferRecord {
  trajectory: [number, number][];
  /** Planning failed: the trajectory is six zeros (NeuroNCAP's brake). */
  failed: boolean;
  error?: string;
  profile: PromptProfile;
  /** The user text the model saw. */
  promptText: string;
  /** The model's answer text. */
  answerText: string;
  /** Past positions in the current ego frame, oldest first, ending at the origin. */
  history: EgoHistoryEntry[];
  timings?: Timings;
  imageDecodeMs: number;
  /** CAM_FRONT, for the live view. */
  front?: RgbImage;
  camera2image?: number[][];
  camera2ego?: number[][];
  timestampUs: number;
}

export interface NcapPlannerOptions {
  profile: PromptProfile;
  /** 'nuscenes' (CAM_FRONT, 6 waypoints; default) or 'q7' (front, front-right, front-left; 10 waypoints, first 6 used). */
  format: 'nuscenes' | 'q7';
  /** Default: the model's generation_config (greedy for the Impromptu checkpoints). */
  sampling?: SamplingOptions;
}

const ZEROS = (): [number, number][] => Array.from({ length: 6 }, () => [0, 0] as [number, number]);

const CAMERAS_BY_FORMAT = { nuscenes: ['CAM_FRONT'], q7: ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT'] } as const;

export class NcapPlanner {
  readonly #model: Model;
  readonly #tokenizer: QwenTokenizer;
  readonly #options: NcapPlannerOptions;
  readonly #history = new RunHistory();
  /** /infer calls run one after another, in arrival order: each extends the run's history. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(model: Model, tokenizer: QwenTokenizer, options: NcapPlannerOptions) {
    this.#model = model;
    this.#tokenizer = tokenizer;
    this.#options = options;
  }

  get profile(): PromptProfile {
    return this.#options.profile;
  }

  /** Forgets the run (NeuroNCAP calls /reset before each run). Waits for a running /infer first. */
  reset(): Promise<void> {
    return this.#serial(async () => this.#history.reset());
  }

  /**
   * Decodes the images (ERR_INVALID_ARGUMENT for a bad or missing one: the request is malformed),
   * extends the history and plans. A planning failure is not thrown: it answers six zeros.
   */
  async infer(body: InferBody): Promise<InferRecord> {
    const decodeStart = performance.now();
    const wanted = this.#options.profile === 'impromptu-ncap' ? [IMPROMPTU_NCAP_CAMERA] : [...CAMERAS_BY_FORMAT[this.#options.format]];
    const names = [...new Set([...wanted, 'CAM_FRONT'])];
    const decoded = new Map<string, RgbImage>();
    for (const name of names) {
      const value = body.images[name];
      if (value === undefined) {
        if (wanted.includes(name)) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `images.${name} is missing; the ${this.#options.profile} profile needs ${wanted.join(', ')}`);
        continue;
      }
      decoded.set(name, await decodeImage(decodeBase64(value, `images.${name}`), `images.${name}`));
    }
    const imageDecodeMs = performance.now() - decodeStart;
    const front = decoded.get('CAM_FRONT');
    return this.#serial(async () => {
      this.#history.push({ timestampUs: body.timestamp, ego2world: body.ego2world as Matrix4, canbus: body.canbus });
      const record: InferRecord = {
        trajectory: ZEROS(),
        failed: false,
        profile: this.#options.profile,
        promptText: '',
        answerText: '',
        history: this.#history.egoHistory(),
        imageDecodeMs,
        // A copy: the decoded image may be a view into the request body, which must not be kept.
        front: front && { ...front, data: front.data.slice() },
        camera2image: body.calibration?.camera2image?.CAM_FRONT,
        camera2ego: body.calibration?.camera2ego?.CAM_FRONT,
        timestampUs: body.timestamp,
      };
      const frames = wanted.map((name) => imageToFrame(decoded.get(name)!));
      try {
        await (this.#options.profile === 'training' ? this.#planTraining(frames, record) : this.#planImpromptu(frames, record));
      } catch (err) {
        record.failed = true;
        record.error = err instanceof TrtVlaError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
        record.trajectory = ZEROS();
      } finally {
        for (const f of frames) f.dispose();
      }
      return record;
    });
  }

  async #planTraining(frames: FrameBuffer[], record: InferRecord): Promise<void> {
    const request = { images: frames, ...planHistory(this.#options.format, undefined, record.history), sampling: this.#options.sampling };
    record.promptText = buildPlanningPrompt({ ...request, views: 3 }).text;
    const plan = await this.#model.plan(request);
    record.answerText = plan.text;
    record.timings = plan.timings;
    record.trajectory = sixPoints(plan.waypoints.map((w: Waypoint) => [w.x, w.y]), plan.text);
  }

  async #planImpromptu(frames: FrameBuffer[], record: InferRecord): Promise<void> {
    const text = impromptuNcapPrompt(this.#history.first, this.#history.recent, this.#history.count);
    record.promptText = text;
    const counts = await imageTokenCounts(this.#model, frames);
    const tokens = encodeChatTurns(this.#tokenizer, [{ role: 'user', parts: [{ type: 'text', text }, { type: 'image', index: 0 }] }], counts);
    const result = await this.#model.generate({ tokens, images: frames, maxTokens: IMPROMPTU_NCAP_MAX_TOKENS, sampling: this.#options.sampling });
    record.answerText = result.text;
    record.timings = result.timings;
    const points = impromptuExtractTrajectory(result.text);
    if (!points) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `no [x, y] pair in the answer: ${JSON.stringify(result.text.slice(0, 200))}`);
    record.trajectory = sixPoints(points, result.text);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn, fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }
}

/** The pad count of each frame, from the model's own patch grid. */
export async function imageTokenCounts(model: Model, frames: FrameBuffer[]): Promise<number[]> {
  if (frames.length === 0) return [];
  const prepared = await model.prepare({ messages: [{ role: 'user', content: '<image>'.repeat(frames.length) }], images: frames });
  return prepared.imageGrids.map((g) => imageTokenCount(g));
}

/** Exactly 6 finite points, or an error saying what the answer held. */
function sixPoints(points: number[][], answer: string): [number, number][] {
  if (points.length < 6) throw new TrtVlaError('ERR_INVALID_ARGUMENT', `the answer holds ${points.length} of 6 waypoints: ${JSON.stringify(answer.slice(0, 200))}`);
  const six = points.slice(0, 6).map(([x, y]) => [x!, y!] as [number, number]);
  if (!six.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y))) throw new TrtVlaError('ERR_INVALID_ARGUMENT', 'non-finite waypoint in the answer');
  return six;
}
