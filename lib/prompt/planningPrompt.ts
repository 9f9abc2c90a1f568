/** The prompt of a plan request: the builder of its format, with its history and wording. */
import { invalidArgument } from '../validate.js';
import type { PlanningMode, PlanningPrompt } from './answerSpec.js';
import type { PlanHistory } from './historyFields.js';
import { buildNuScenesPrompt, type NuScenesPromptOptions } from './nuscenesPrompt.js';
import { buildQ7Prompt } from './q7Prompt.js';

/**
 * Builds the prompt a plan request describes. `views` (q7: 1 or 3 cameras, default 3) is ignored by
 * the one-camera nuScenes prompt. The history is checked against the prompt's fields by its builder.
 */
export function buildPlanningPrompt(request: PlanHistory & { mode?: PlanningMode | undefined; views?: 1 | 3 }): PlanningPrompt {
  if (request.format === 'q7') {
    // The types forbid a wording for q7; plain JavaScript callers are told so rather than ignored.
    const wording: unknown = request.statusWording;
    if (wording !== undefined) throw invalidArgument('statusWording', "absent for format 'q7' (the q7 prompt has one wording)", wording);
    return buildQ7Prompt({ history: request.history, mode: request.mode, views: request.views });
  }
  // One object cannot name its wording's member of the union; buildNuScenesPrompt checks the pair at run time.
  return buildNuScenesPrompt({ history: request.history, mode: request.mode, statusWording: request.statusWording } as NuScenesPromptOptions);
}
