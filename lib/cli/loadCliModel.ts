/** loadModel as the CLI commands do it: a progress line while loading, then the model's warnings on stderr. */
import { LOAD_STAGES, loadModel, type LoadModelOptions, type Model } from '../model/Model.js';
import { progressLine } from './progress.js';
import { printModelWarnings } from './warnings.js';

export async function loadCliModel(dir: string, options: Omit<LoadModelOptions, 'onProgress'>): Promise<Model> {
  const loading = progressLine('loading the model', LOAD_STAGES.length);
  const model = await loadModel(dir, { ...options, onProgress: (p) => loading.update(p.done, p.stage) });
  printModelWarnings(model.warnings);
  return model;
}
