// The event loop's longest stall while `run` works: a 1 ms timer's worst gap between ticks. Native work
// belongs on worker threads; a synchronous call that blocks the loop shows up here.
export async function worstEventLoopGap(run: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  return Math.max(worst, performance.now() - last);
}
