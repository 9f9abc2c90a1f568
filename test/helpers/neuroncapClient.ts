/**
 * A NeuroNCAP-style client, following NeuroNCAP's own (atonderski/neuro-ncap @ecdcf28):
 * - `neuro_ncap/utils/web.py:24-38` `wait_until_alive`: GET /alive until any response;
 * - `neuro_ncap/utils/web.py:15-21` GET / POST with a JSON body, no timeout;
 * - `neuro_ncap/components/model_api.py:127-128` `reset`: POST /reset with `{}`;
 * - `neuro_ncap/components/model_api.py:120-125` `run_model`: POST /infer with
 *   `ModelInput.to_json_dict()` (`model_api.py:46-54`: images, ego2world, canbus, timestamp, command,
 *   calibration as `Calibration.to_json_dict()` `model_api.py:29-34`), then reads `trajectory` and
 *   `aux_outputs` (`ModelAuxOutput.from_json` indexes into it, so it must be an object);
 * - camera names in the order of `neuro_ncap/engine.py:65-72`; each image base64 of a torch.save'd (H, W, 3) uint8 tensor.
 */
import { patternImage, torchSaveUint8 } from './torchSave.js';

export const NUSCENES_CAMERAS = ['CAM_FRONT', 'CAM_FRONT_LEFT', 'CAM_FRONT_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'] as const;

/** A pose facing `yaw` (rad, from world +x) at (x, y), z = 0 (as NeuroNCAP's vehicle model writes it). */
export function pose(x: number, y: number, yaw: number): number[][] {
  const c = Math.cos(yaw);
  const s = Math.sin(yaw);
  return [
    [c, -s, 0, x],
    [s, c, 0, y],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

/** The 16 CAN values as NeuroNCAP emulates them after priming (speculation-and-closed-loop.md §1.4). */
export function ncapCanbus(x: number, y: number, yaw: number, speed: number, yawRate: number, ax = 0, ay = 0): number[] {
  return [x, y, 0, Math.cos(yaw / 2), 0, 0, Math.sin(yaw / 2), ax, ay, 9.8, 0, 0, yawRate, speed, 0, 0];
}

/** nuScenes-like front camera: 1.5 m up, looking along ego +x; intrinsics for a W×H image. */
export function frontCalibration(width: number, height: number): { camera2image: number[][]; camera2ego: number[][] } {
  return {
    camera2image: [
      [width, 0, width / 2],
      [0, width, height / 2],
      [0, 0, 1],
    ],
    camera2ego: [
      [0, 0, 1, 1.7],
      [-1, 0, 0, 0],
      [0, -1, 0, 1.5],
      [0, 0, 0, 1],
    ],
  };
}

/** Six torch.save'd camera images (distinct content per camera), base64 as the renderer sends them. */
export function ncapImages(width: number, height: number, step: number): Record<string, string> {
  return Object.fromEntries(NUSCENES_CAMERAS.map((name, i) => [name, torchSaveUint8([height, width, 3], patternImage(width, height, step * 8 + i)).toString('base64')]));
}

export interface InferInput {
  ego2world: number[][];
  canbus: number[];
  timestampUs: number;
  images: Record<string, string>;
  width: number;
  height: number;
}

/** `ModelInput.to_json_dict()`. */
export function inferBody(input: InferInput): Record<string, unknown> {
  const front = frontCalibration(input.width, input.height);
  return {
    images: input.images,
    ego2world: input.ego2world,
    canbus: input.canbus,
    timestamp: input.timestampUs,
    command: 2,
    calibration: {
      camera2image: Object.fromEntries(NUSCENES_CAMERAS.map((c) => [c, front.camera2image])),
      camera2ego: Object.fromEntries(NUSCENES_CAMERAS.map((c) => [c, front.camera2ego])),
      lidar2ego: pose(0.94, 0, 0),
    },
  };
}

export class NeuroNcapClient {
  constructor(readonly baseUrl: string) {}

  /** `wait_until_alive`: any HTTP answer counts. */
  async waitUntilAlive(maxMs = 30_000): Promise<void> {
    const deadline = Date.now() + maxMs;
    for (;;) {
      try {
        await fetch(`${this.baseUrl}/alive`, { signal: AbortSignal.timeout(1000) });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async post(endpoint: string, json: unknown): Promise<Response> {
    return fetch(`${this.baseUrl}${endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });
  }

  async reset(): Promise<unknown> {
    const r = await this.post('/reset', {});
    if (r.status !== 200) throw new Error(`/reset answered ${r.status}: ${await r.text()}`);
    return r.json();
  }

  /** `run_model`: the trajectory and aux outputs, failing like NeuroNCAP would on a malformed answer. */
  async runModel(body: Record<string, unknown>): Promise<{ trajectory: number[][]; aux_outputs: Record<string, unknown> }> {
    const r = await this.post('/infer', body);
    if (r.status !== 200) throw new Error(`/infer answered ${r.status}: ${await r.text()}`);
    const json = (await r.json()) as { trajectory: number[][]; aux_outputs: Record<string, unknown> };
    if (!Array.isArray(json.trajectory)) throw new Error('no trajectory');
    if (typeof json.aux_outputs !== 'object' || json.aux_outputs === null || Array.isArray(json.aux_outputs)) throw new Error('aux_outputs is not an object');
    return json;
  }
}
