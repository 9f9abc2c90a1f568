import { PLANNING_FORMATS, formatCoordinate } from '../../lib/prompt/formats.js';

// Exact prompt strings of impromptu-vla.md §2 (nuScenes exp11 with the released status variant, q7
// Waymo 3-view) and answers of §3 / Appendix A7.
const status = (ax: string, ay: string, v: string, steer: string): string =>
  `Acceleration: X ${ax}, Y ${ay} m/s^2, Velocity: ${v} m/s, Steering angle: ${steer} (positive: left turn, negative: right turn)`;
const NUSCENES_HISTORY = [
  ['-12.53', '0.74', '0.96', '0.49', '3.21', '2.42'],
  ['-10.9', '0.52', '0.3', '-0.12', '3.3', '1.0'],
  ['-9.2', '0.31', '-0.05', '0.0', '3.41', '0.0'],
  ['-7.4', '0.18', '0.11', '0.02', '3.5', '-0.5'],
  ['-5.58', '0.08', '0.0', '0.01', '3.62', '-1.25'],
  ['-3.72', '0.02', '-0.2', '0.0', '3.7', '0.0'],
  ['0.0', '0.0', '0.13', '-0.04', '3.74', '-0.3'],
]
  .map(([x, y, ax, ay, v, s], i) => `(t-${(3 - i * 0.5).toFixed(1)}s) [${x}, ${y}], ${status(ax, ay, v, s)}`)
  .join(', ');
export const NUSCENES_PROMPT =
  "You are an autonomous driving agent. You have access to a front view camera image of a vehicle <image>. Your task is to do your best to predict future waypoints for the vehicle over the next 3 timesteps, given the vehicle's intent inferred from the images.Provided are the previous ego vehicle status recorded over the last 3.0 seconds (at 0.5-second intervals). This includes the x and y coordinates of the ego vehicle. Positive x means forward direction while positive y means leftwards. The data is presented in the format [x, y]:" +
  `${NUSCENES_HISTORY}\n`;
export const NUSCENES_ANSWER = `${PLANNING_FORMATS.nuscenes.preamble}[2.15, 0.0], [3.8, 0.09], [5.86, 0.27], [7.93, 0.66], [9.92, 1.28], [11.77, 2.17]</PLANNING>`;
const q7Entry = (t: string, x: number, y: number, k: number): string =>
  `(t-${t}s) [${formatCoordinate(x, 'fixed2')}, ${formatCoordinate(y, 'fixed2')}], Acceleration: X ${(0.21 * k).toFixed(2)}, Y ${(-0.03 * k).toFixed(2)} m/s^2, Velocity: X ${(4.76 + k).toFixed(2)}, Y ${(0).toFixed(2)} m/s`;
export const Q7_PROMPT =
  'You are an autonomous driving agent. You have access to multi-view camera images of a vehicle: (1) front view (which you should focus on with the most attention) <image>, (2) front right view <image>, and (3) front left view <image>. Your task is to do your best to predict future waypoints for the vehicle over the next 10 timesteps, given the vehicle\'s intent inferred from the images. Provided are the previous ego vehicle statuses recorded over the last 1.5 seconds (at 0.5-second intervals). This includes the x and y coordinates of the ego vehicle. Positive x means forward direction while positive y means leftwards. The data is presented in the format [x, y]:\n' +
  [q7Entry('1.5', -7.12, 0.31, 1), q7Entry('1.0', -4.75, 0.2, 2), q7Entry('0.5', -2.37, -0.004, 3), q7Entry('0.0', -0.0, 0, 4)].join(', ') +
  '\n';
export const Q7_ANSWER = `${PLANNING_FORMATS.q7.preamble}[-0.00, 0.00], [3.32, -0.10], [6.58, -0.27], [9.80, -0.50], [13.05, -0.92], [16.31, -1.33], [19.64, -1.76], [23.09, -2.19], [26.70, -2.69], [30.33, -3.24]</PLANNING>`;

