/**
 * The service's metrics in the Prometheus text exposition format (version 0.0.4: `# HELP`, `# TYPE`,
 * `name{label="v"} value`, histograms as cumulative `_bucket{le=…}`, `_sum`, `_count`).
 */

/** Stage latency buckets in seconds: 1 ms … 60 s (the tiny CPU model plans in ms, a 3B one in seconds). */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.#values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.#values.set(key, entry);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels))?.value ?? 0;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.#values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines;
  }
}

class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  observe(labels: Labels, seconds: number): void {
    const key = labelText(labels);
    let s = this.#series.get(key);
    if (!s) this.#series.set(key, (s = { labels, counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS.forEach((le, i) => {
      if (seconds <= le) s.counts[i]!++;
    });
    s.sum += seconds;
    s.count++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      BUCKETS.forEach((le, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(le) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

export class ServiceMetrics {
  readonly plans = new Counter('trt_vla_plans_total', 'Plans answered, by endpoint (failed plans included).');
  readonly failures = new Counter('trt_vla_plan_failures_total', 'Plans that failed and were answered with six zeros (brake), by endpoint.');
  readonly rejected = new Counter('trt_vla_requests_rejected_total', 'Requests refused before planning, by reason (queue_full, bad_request, unauthorized, ...).');
  readonly stages = new Histogram('trt_vla_stage_seconds', 'Latency of each stage of a request, seconds.');
  queueDepth = 0;
  queueDepthMax = 0;
  readonly queueLimit: number;

  constructor(queueLimit: number) {
    this.queueLimit = queueLimit;
  }

  /** The exposition text. */
  render(): string {
    const gauge = (name: string, help: string, value: number): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`];
    return [
      ...this.plans.render(),
      ...this.failures.render(),
      ...this.rejected.render(),
      ...gauge('trt_vla_queue_depth', 'Planning requests admitted and not yet answered (waiting or running).', this.queueDepth),
      ...gauge('trt_vla_queue_depth_max', 'Highest queue depth since start.', this.queueDepthMax),
      ...gauge('trt_vla_queue_limit', 'Queue depth beyond which requests get 503.', this.queueLimit),
      ...this.stages.render(),
      ...gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', process.memoryUsage.rss()),
    ].join('\n') + '\n';
  }
}
