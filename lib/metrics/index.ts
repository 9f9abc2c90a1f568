/** Open-loop metrics (L2, collision) in the Impromptu / ST-P3 conventions, and the eval record formats. */
export * from './collision.js';
export * from './openLoop.js';
export * from './records.js';
