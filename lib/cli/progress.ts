/**
 * Progress of a long CLI step on stderr: on a terminal one line redrawn in place with a bar and an ETA;
 * elsewhere (pipes, CI logs) plain lines, at most one every 2 s plus the last, so logs stay readable.
 */
export interface ProgressLine {
  /** `done` of `total` units are finished; `note` says what was done last. */
  update(done: number, note?: string): void;
}

interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

const BAR_WIDTH = 24;
const PLAIN_INTERVAL_MS = 2000;

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export function progressLine(label: string, total: number, stream: ProgressStream = process.stderr, now: () => number = () => performance.now()): ProgressLine {
  const tty = stream.isTTY === true && !process.env.CI;
  const started = now();
  let lastPlain = -Infinity;
  return {
    update(done, note) {
      const elapsed = now() - started;
      const eta = done > 0 && done < total ? `, ETA ${seconds((elapsed / done) * (total - done))}` : '';
      const tail = `${done}/${total}${note ? ` ${note}` : ''}`;
      if (tty) {
        const filled = Math.round((Math.min(done, total) / total) * BAR_WIDTH);
        stream.write(`\r\x1b[2K${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${tail} (${seconds(elapsed)}${eta})`);
        if (done >= total) stream.write('\n');
      } else if (done >= total || elapsed - lastPlain >= PLAIN_INTERVAL_MS) {
        lastPlain = elapsed;
        stream.write(`trt-vla: ${label} ${tail} (${seconds(elapsed)}${eta})\n`);
      }
    },
  };
}
