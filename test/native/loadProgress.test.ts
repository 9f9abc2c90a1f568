// loadModel({ onProgress }): every stage once, 'files' first and 'ready' last; a throwing callback
// fails the load with its error.
import { describe, expect, it } from 'vitest';

import { LOAD_STAGES, loadModel, type LoadProgress } from '../../lib/index.js';
import { testModel } from '../helpers/models.js';

describe('loadModel onProgress', () => {
  it('reports each stage once, in a valid order, with counts and elapsed time', async () => {
    const events: LoadProgress[] = [];
    await using model = await loadModel(await testModel('tiny', 'awq'), { onProgress: (p) => events.push(p) });
    expect(model.disposed).toBe(false);
    expect(events.map((e) => e.done)).toEqual([1, 2, 3, 4]);
    expect(events.every((e) => e.total === LOAD_STAGES.length)).toBe(true);
    expect(events[0]!.stage).toBe('files');
    expect(events[3]!.stage).toBe('ready');
    expect(new Set(events.map((e) => e.stage))).toEqual(new Set(LOAD_STAGES));
    for (let i = 1; i < events.length; i++) expect(events[i]!.elapsedMs).toBeGreaterThanOrEqual(events[i - 1]!.elapsedMs);
  });

  it('a callback that throws fails the load with its error; a non-function is rejected up front', async () => {
    const dir = await testModel('tiny', 'awq');
    const boom = new Error('progress callback failed');
    await expect(
      loadModel(dir, {
        onProgress: (p) => {
          if (p.stage === 'weights') throw boom;
        },
      }),
    ).rejects.toBe(boom);
    await expect(loadModel(dir, { onProgress: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});
