// The runtime log delivered to JS: level filtering, the handler on the main thread, restoring stderr,
// and the model's load note.
import { afterEach, describe, expect, it } from 'vitest';

import { type LogEntry, loadModel, setLogHandler, setLogLevel, TrtVlaError } from '../../lib/index.js';
import { native } from '../../lib/native.js';
import { testModel } from '../helpers/models.js';

/** Waits until the thread-safe deliveries queued so far have run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('log', () => {
  afterEach(() => {
    setLogHandler(null);
    setLogLevel('warning');
  });

  it('delivers entries up to the level to the handler, and none after it is removed', async () => {
    const seen: LogEntry[] = [];
    setLogHandler((e) => seen.push(e));
    setLogLevel('warning');
    native().logMessage('info', 'test', 'hidden at warning level');
    native().logMessage('warning', 'test', 'shown');
    native().logMessage('error', 'test', 'also shown');
    await settle();
    expect(seen).toEqual([
      { level: 'warning', source: 'test', message: 'shown' },
      { level: 'error', source: 'test', message: 'also shown' },
    ]);
    setLogLevel('verbose');
    native().logMessage('verbose', 'test', 'now visible');
    await settle();
    expect(seen.at(-1)).toEqual({ level: 'verbose', source: 'test', message: 'now visible' });
    setLogHandler(null);
    native().logMessage('verbose', 'test', 'not delivered'); // level verbose: goes nowhere (stderr gets warnings only)
    await settle();
    expect(seen).toHaveLength(3);
  });

  it("notes what a model loaded, at 'info'", async () => {
    const seen: LogEntry[] = [];
    setLogHandler((e) => seen.push(e));
    setLogLevel('info');
    const model = await loadModel(await testModel('tiny', 'awq'), { maxKvCapacity: 128, threads: 1 });
    await model.dispose();
    await settle();
    const note = seen.find((e) => e.source === 'model');
    expect(note?.level).toBe('info');
    expect(note?.message).toMatch(/^loaded on cpu: 2 layers, hidden 128, 151936-token vocabulary, KV capacity 128, prefill chunk 128, vision encoder, host pipeline, 1 CPU threads$/);
  });

  it('rejects bad levels and handlers with ERR_INVALID_ARGUMENT', () => {
    expect(() => setLogLevel('loud' as never)).toThrow(TrtVlaError);
    expect(() => setLogHandler('x' as never)).toThrow(/function or null/);
  });
});
