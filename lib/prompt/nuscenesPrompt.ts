/**
 * The nuScenes planning prompt of the released Impromptu checkpoints (experiment exp11: one front
 * image, ego history with CAN-bus status, answer = 6 waypoints over 3 s). The text is concatenated
 * exactly as the generator did (impromptu-vla.md §2.1), including its quirks: no space before
 * "Provided", no space after "[x, y]:", and a newline at the very end.
 */
import { requireObject, requireOneOf } from '../validate.js';
import { answerSpec, resolvePlanningMode, type PlanningMode, type PlanningPrompt } from './answerSpec.js';
import type { EgoHistoryEntry } from './egoHistory.js';
import { NUSCENES_STATUS_WORDINGS, validatePlanHistory, type NuScenesHistoryEntry, type NuScenesStatusWording } from './historyFields.js';
import { formatCoordinate, PLANNING_FORMATS } from './formats.js';
import { pythonFloatRepr, pythonRound } from './pythonNumbers.js';

export { NUSCENES_STATUS_WORDINGS, type NuScenesStatusWording } from './historyFields.js';

/**
 * Options of {@link buildNuScenesPrompt}: a union over the status wordings, so the history's type
 * requires the fields the chosen wording prints (HISTORY_FIELDS.nuscenes).
 */
export type NuScenesPromptOptions = {
  [W in NuScenesStatusWording]: {
    /** Ego history, oldest first, 1–7 entries ending at t = 0, with the fields the wording prints. */
    history: readonly NuScenesHistoryEntry<W>[];
    /** Answer mode; the prompt text is the same for both. Default 'fast'. */
    mode?: PlanningMode;
  } & (W extends 'speed' ? { /** Status wording (see NuScenesStatusWording). Default 'speed' (the released data). */ statusWording?: W } : { statusWording: W });
}[NuScenesStatusWording];

const CAMERA_SENTENCE = 'You are an autonomous driving agent. You have access to a front view camera image of a vehicle <image>. ';
const TASK_SENTENCE =
  "Your task is to do your best to predict future waypoints for the vehicle over the next 3 timesteps, given the vehicle's intent inferred from the images.";
const COORDINATE_SENTENCES =
  'This includes the x and y coordinates of the ego vehicle. Positive x means forward direction while positive y means leftwards. ' +
  'The data is presented in the format [x, y]:';
const STEERING_NOTE = '(positive: left turn, negative: right turn)';

/** A status value as `str(round(v, 2))` of a Python float; unlike positions, `-0.0` stays `-0.0`. */
const statusNumber = (value: number): string => pythonFloatRepr(pythonRound(value, 2));

function statusText(entry: EgoHistoryEntry, wording: NuScenesStatusWording): string {
  const acceleration = `Acceleration: X ${statusNumber(entry.ax!)}, Y ${statusNumber(entry.ay!)} m/s^2`;
  const steering = `Steering angle: ${statusNumber(entry.steering!)} ${STEERING_NOTE}`;
  if (wording === 'velocity-x') return `${acceleration}, Velocity: X ${statusNumber(entry.vx!)}, ${steering}`;
  return `${acceleration}, Velocity: ${statusNumber((entry.speed ?? entry.vx)!)} m/s, ${steering}`;
}

/** Builds the exp11 user prompt: 1 image (CAM_FRONT), the answer is the 6-waypoint nuScenes block. */
export function buildNuScenesPrompt(options: NuScenesPromptOptions): PlanningPrompt {
  requireObject(options, 'options');
  const wording = options.statusWording === undefined ? 'speed' : requireOneOf(options.statusWording, 'options.statusWording', NUSCENES_STATUS_WORDINGS);
  const mode = resolvePlanningMode(options.mode, 'options.mode');
  const history: EgoHistoryEntry[] = validatePlanHistory({ format: 'nuscenes', statusWording: wording }, options.history, 'options.history');

  // round(0.5 * len - 0.5, 1) and the labels `available_time - i * 0.5` are Python floats printed with str().
  const availableTime = pythonRound(0.5 * history.length - 0.5, 1);
  const entries = history.map((entry, i) => {
    const label = `(t-${pythonFloatRepr(availableTime - i * 0.5)}s)`;
    const position = `[${formatCoordinate(entry.x, 'round2')}, ${formatCoordinate(entry.y, 'round2')}]`;
    return wording === 'none' ? `${label} ${position}` : `${label} ${position}, ${statusText(entry, wording)}`;
  });
  const text =
    CAMERA_SENTENCE +
    TASK_SENTENCE +
    `Provided are the previous ego vehicle status recorded over the last ${pythonFloatRepr(availableTime)} seconds (at 0.5-second intervals). ` +
    COORDINATE_SENTENCES +
    entries.join(', ') +
    '\n';
  const format = PLANNING_FORMATS.nuscenes;
  return { text, imageCount: 1, format, mode, answer: answerSpec(format, mode) };
}
