/** Impromptu prompt builders, the ego-history type and the answer formats (pure TypeScript). */
export * from './formats.js';
export * from './answerSpec.js';
export * from './egoHistory.js';
export * from './nuscenesPrompt.js';
export * from './q7Prompt.js';
export { pythonFixed, pythonFloatRepr, pythonRound, numpyRound } from './pythonNumbers.js';
