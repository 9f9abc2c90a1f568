/** The planner service: NeuroNCAP model node, OpenAI-compatible chat subset, metrics, live view. */
export { createPlannerServer, type PlannerServer, type PlannerServerOptions } from './server.js';
export { PROMPT_PROFILES, type InferBody, type InferRecord, type InferResponse, type PromptProfile } from './ncapPlanner.js';
export { decodeTorchImage, type RgbImage } from './torchArchive.js';
