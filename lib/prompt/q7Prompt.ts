/**
 * The Impromptu-dataset trajectory prompt (task q7, what the `*_AD` checkpoints were pretrained on):
 * 1 or 3 camera views, ego history with finite-difference kinematics, answer = 10 waypoints over 5 s.
 * The wording is the one of the `q7_*.py` generators (impromptu-vla.md §2.2), all numbers `:.2f`.
 */
import { invalidArgument, requireObject } from '../validate.js';
import { answerSpec, resolvePlanningMode, type PlanningMode, type PlanningPrompt } from './answerSpec.js';
import { validatePlanHistory, type Q7HistoryEntry } from './historyFields.js';
import { PLANNING_FORMATS } from './formats.js';
import { pythonFixed } from './pythonNumbers.js';

export interface Q7PromptOptions {
  /**
   * Ego history, oldest first, 1–7 entries ending at t = 0, each with `ax`, `ay`, `vx`, `vy`. The
   * generators used 4 entries (1.5 s); the released nuScenes part of the data used 7 (3.0 s).
   */
  history: readonly Q7HistoryEntry[];
  /**
   * Camera views. 3: front, front-right, front-left in that order (Waymo, Argoverse); 1: front only
   * (KITTI, IDD, Mapillary). Default 3.
   */
  views?: 1 | 3;
  /** Answer mode; the prompt text is the same for both. Default 'fast'. */
  mode?: PlanningMode;
}

const MULTI_VIEW_SENTENCE =
  'You are an autonomous driving agent. You have access to multi-view camera images of a vehicle: (1) front view ' +
  '(which you should focus on with the most attention) <image>, (2) front right view <image>, and (3) front left view <image>. ';
const SINGLE_VIEW_SENTENCE = 'You are an autonomous driving agent. You have access to front camera image of a vehicle: <image>. ';
const TASK_SENTENCE =
  "Your task is to do your best to predict future waypoints for the vehicle over the next 10 timesteps, given the vehicle's intent inferred from the images. ";
const COORDINATE_SENTENCES =
  'This includes the x and y coordinates of the ego vehicle. Positive x means forward direction while positive y means leftwards. ' +
  'The data is presented in the format [x, y]:\n';

const fixed2 = (value: number): string => pythonFixed(value, 2);

/** Builds the q7 user prompt; the answer is the 10-waypoint q7 block. */
export function buildQ7Prompt(options: Q7PromptOptions): PlanningPrompt {
  requireObject(options, 'options');
  const views = options.views ?? 3;
  if (views !== 1 && views !== 3) throw invalidArgument('options.views', '1 or 3', views);
  const mode = resolvePlanningMode(options.mode, 'options.mode');
  const history = validatePlanHistory({ format: 'q7' }, options.history, 'options.history');

  const last = history.length - 1;
  const entries = history.map((entry, i) => {
    // The generators write the labels and the current position as literals: "(t-1.5s)", "[0.0, 0.0]".
    const label = `(t-${pythonFixed((last - i) * 0.5, 1)}s)`;
    const position = i === last ? '[0.0, 0.0]' : `[${fixed2(entry.x)}, ${fixed2(entry.y)}]`;
    const status =
      `Acceleration: X ${fixed2(entry.ax)}, Y ${fixed2(entry.ay)} m/s^2, ` + `Velocity: X ${fixed2(entry.vx)}, Y ${fixed2(entry.vy)} m/s`;
    return `${label} ${position}, ${status}`;
  });
  const text =
    (views === 3 ? MULTI_VIEW_SENTENCE : SINGLE_VIEW_SENTENCE) +
    TASK_SENTENCE +
    `Provided are the previous ego vehicle statuses recorded over the last ${pythonFixed(last * 0.5, 1)} seconds (at 0.5-second intervals). ` +
    COORDINATE_SENTENCES +
    entries.join(', ') +
    '\n';
  const format = PLANNING_FORMATS.q7;
  return { text, imageCount: views, format, mode, answer: answerSpec(format, mode) };
}
