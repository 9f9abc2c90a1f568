import { describe, expect, it } from 'vitest';

import { abortError, isTrtVlaError, throwIfAborted, TrtVlaError } from '../../lib/errors.js';
import { invalidArgument, requireInteger, requireOneOf } from '../../lib/validate.js';

describe('TrtVlaError', () => {
  it('carries a stable code and is an Error', () => {
    const e = new TrtVlaError('ERR_MODEL_LOAD', 'bad file');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('TrtVlaError');
    expect(e.code).toBe('ERR_MODEL_LOAD');
    expect(isTrtVlaError(e, 'ERR_MODEL_LOAD')).toBe(true);
    expect(isTrtVlaError(e, 'ERR_DISPOSED')).toBe(false);
  });

  it('maps an unknown code to ERR_INTERNAL rather than inventing codes', () => {
    expect(new TrtVlaError('ERR_NOPE' as never, 'x').code).toBe('ERR_INTERNAL');
  });

  it('turns an aborted signal into ABORT_ERR with the reason as cause', () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const e = abortError(controller.signal);
    expect(e.code).toBe('ABORT_ERR');
    expect((e.cause as Error).message).toBe('stop');
    expect(() => throwIfAborted(controller.signal)).toThrow(TrtVlaError);
    expect(() => throwIfAborted(undefined)).not.toThrow();
  });
});

describe('validation messages', () => {
  it('use one template', () => {
    expect(invalidArgument('width', 'an integer between 1 and 16384', 'wide').message).toBe(
      'Expected an integer between 1 and 16384 for width but received "wide" of type string',
    );
    expect(() => requireInteger(1.5, 'height', 1, 10)).toThrow(
      'Expected an integer between 1 and 10 for height but received 1.5 of type number',
    );
    expect(() => requireOneOf('yuv', 'format', ['rgb8', 'nv12'])).toThrow(
      "Expected one of 'rgb8', 'nv12' for format but received \"yuv\" of type string",
    );
  });
});
