/** Impromptu prompt builders, the ego-history type and the answer formats (pure TypeScript). */
export * from './formats.js';
export * from './answerSpec.js';
export * from './egoHistory.js';
export {
  HISTORY_FIELDS,
  historyRequirements,
  planHistory,
  validatePlanHistory,
  type EntryWithFields,
  type HistoryEntryFor,
  type HistoryFieldRequirement,
  type HistoryPrompt,
  type NuScenesHistoryEntry,
  type PlanHistory,
  type Q7HistoryEntry,
} from './historyFields.js';
export * from './nuscenesPrompt.js';
export * from './q7Prompt.js';
export { pythonFixed, pythonFloatRepr, pythonRound, numpyRound } from './pythonNumbers.js';
