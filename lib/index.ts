/**
 * trt-vla: run the Impromptu driving VLA (Qwen2.5-VL) from Node.js — TensorRT engines on Jetson Orin,
 * a CPU reference engine everywhere else.
 */
export { TrtVlaError, isTrtVlaError, type TrtVlaErrorCode } from './errors.js';
export {
  info,
  type AddonCandidate,
  type AddonRuntimeInfo,
  type BackendName,
  type BackendStatus,
  type NoAddonRuntimeInfo,
  type PlatformFacts,
  type RuntimeInfo,
} from './info.js';
export { setLogHandler, setLogLevel, type LogEntry, type LogLevel } from './log.js';
export { loadModel, LOAD_STAGES, Model, type BackendChoice, type BackendSelection, type LoadModelOptions, type LoadProgress, type ModelDescription } from './model/Model.js';
export { Session } from './model/Session.js';
export type {
  EvaluateRequest,
  EvaluateResult,
  GenerateRequest,
  GenerateResult,
  ImageEmbeddings,
  PlanEvent,
  PlanRequest,
  PlanRequestBase,
  PlanResult,
  PreparedInput,
  PrepareOptions,
  SamplingOptions,
  StopReason,
  Timings,
  TokenEvent,
  VisionEngineInputs,
} from './model/types.js';
export {
  argmax,
  compareVectors,
  runParity,
  spreadPositions,
  type ErrorStats,
  type LogitsParity,
  type ModelSide,
  type ParityReport,
  type ParityRequest,
} from './model/parity.js';
export { IMPROMPTU_IMAGE_REGULARIZATION, type ImageRegularization } from './model/modelConfig.js';
export { makeModel, type MakeModelOptions, type WeightQuantization } from './model/generate.js';
export { MODEL_PRESETS, type ModelPreset } from './model/presets.js';
export {
  allocFrame,
  createFramePool,
  FrameBuffer,
  FramePool,
  PIXEL_FORMATS,
  type FrameOptions,
  type FramePoolOptions,
  type PixelFormat,
} from './frame.js';
export { frameFromImage } from './frameFromImage.js';

// Prompts: the Impromptu prompt builders, the ego history, the answer formats (pure TypeScript).
export {
  buildNuScenesPrompt,
  NUSCENES_STATUS_WORDINGS,
  type NuScenesPromptOptions,
  type NuScenesStatusWording,
} from './prompt/nuscenesPrompt.js';
export { buildQ7Prompt, type Q7PromptOptions } from './prompt/q7Prompt.js';
export { answerSpec, PLANNING_MODES, type AnswerSpec, type PlanningMode, type PlanningPrompt } from './prompt/answerSpec.js';
export {
  HISTORY_STEP_SECONDS,
  loadEgoHistory,
  MAX_HISTORY_ENTRIES,
  validateEgoHistory,
  type EgoHistory,
  type EgoHistoryEntry,
  type EgoStatusField,
  type ValidateEgoHistoryOptions,
} from './prompt/egoHistory.js';
export {
  HISTORY_FIELDS,
  planHistory,
  validatePlanHistory,
  type HistoryEntryFor,
  type HistoryFieldRequirement,
  type HistoryPrompt,
  type NuScenesHistoryEntry,
  type PlanHistory,
  type Q7HistoryEntry,
} from './prompt/historyFields.js';
export {
  formatCoordinate,
  formatPlanningBlock,
  formatWaypoint,
  PLANNING_FORMATS,
  REASONING_SECTIONS,
  type PlanningFormat,
  type PlanningFormatSpec,
  type ReasoningSectionKey,
  type ReasoningSectionSpec,
} from './prompt/formats.js';

// Actions: trajectory parsing (one-shot and streaming) and kinematic feasibility.
export { parsePlanning } from './action/parsePlanning.js';
export { WaypointStreamDecoder } from './action/WaypointStreamDecoder.js';
export type {
  ParsePlanningOptions,
  PlanningDiagnostic,
  PlanningDiagnosticCode,
  PlanningParseResult,
  PlanningStreamEvent,
  ReasoningEvent,
  Waypoint,
  WaypointEvent,
} from './action/planningTypes.js';
export {
  checkFeasibility,
  NUPLAN_COMFORT_LIMITS,
  PASSENGER_CAR_LIMITS,
  type FeasibilityLimits,
  type FeasibilityOptions,
  type FeasibilityQuantity,
  type FeasibilityReport,
  type FeasibilityStep,
  type FeasibilityViolation,
} from './action/feasibility.js';

// Metrics: open-loop L2 / collision in the Impromptu (ST-P3 / VAD) conventions.
export {
  boxesIntersect,
  collisionsPerStep,
  EGO_BOX,
  egoBoxAt,
  trajectoryYaws,
  type EgoBoxOptions,
  type OrientedBox,
  type PlanarPoint,
} from './metrics/collision.js';
export {
  cumulativeMeans,
  evaluateOpenLoop,
  horizonMetric,
  l2PerStep,
  padPrediction,
  type GroundTruth,
  type HorizonMetric,
  type OpenLoopOptions,
  type OpenLoopReport,
  type OpenLoopSample,
} from './metrics/openLoop.js';
export {
  joinRecords,
  parseGroundTruthRecord,
  parseJsonLines,
  parsePredictionRecord,
  sortRecords,
  type GroundTruthRecord,
  type JoinedRecords,
  type JoinOptions,
  type LocatedValue,
  type PredictionRecord,
  type SortedRecords,
  type UnscoredRecord,
} from './metrics/records.js';

// The planner service (`trt-vla serve`): NeuroNCAP model node + OpenAI-compatible chat + live view.
export {
  createPlannerServer,
  decodeTorchImage,
  PROMPT_PROFILES,
  type InferBody,
  type InferRecord,
  type InferResponse,
  type PlannerServer,
  type PlannerServerOptions,
  type PromptProfile,
  type RgbImage,
} from './serve/index.js';
