// Prometheus text exposition (format 0.0.4) of the few series the service keeps: requests, latency,
// batch sizes, rejections, queue depth. Written here rather than pulled from a metrics library: five
// series, no registry, no default process collectors to turn off.

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) this.counts[i]++;
  }
}

function labels(pairs: Record<string, string>): string {
  const parts = Object.entries(pairs).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export type RejectReason = 'unauthorized' | 'queue_full' | 'too_large' | 'unsupported_media_type' | 'bad_image' | 'bad_request' | 'shutting_down';

export class ServeMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly batchSize = new Histogram(BATCH_BUCKETS);
  private readonly batchSeconds = new Histogram(LATENCY_BUCKETS_S);
  private readonly rejects = new Map<RejectReason, number>();
  private images = 0;

  constructor(private readonly gauges: { queueDepth(): number; admitted(): number }) {}

  request(route: string, method: string, status: number, seconds: number): void {
    const key = JSON.stringify([route, method, String(status)]);
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const hist = this.latency.get(route) ?? new Histogram(LATENCY_BUCKETS_S);
    hist.observe(seconds);
    this.latency.set(route, hist);
  }

  batch(size: number, ms: number): void {
    this.batchSize.observe(size);
    this.batchSeconds.observe(ms / 1000);
    this.images += size;
  }

  reject(reason: RejectReason): void {
    this.rejects.set(reason, (this.rejects.get(reason) ?? 0) + 1);
  }

  render(): string {
    const out: string[] = [];
    out.push('# HELP tlkit_http_requests_total HTTP requests answered, by route, method and status.', '# TYPE tlkit_http_requests_total counter');
    for (const [key, n] of this.requests) {
      const [route, method, status] = JSON.parse(key) as string[];
      out.push(`tlkit_http_requests_total${labels({ route, method, status })} ${n}`);
    }
    out.push('# HELP tlkit_http_request_duration_seconds Time from request to response, by route.', '# TYPE tlkit_http_request_duration_seconds histogram');
    for (const [route, h] of this.latency) histogramLines(out, 'tlkit_http_request_duration_seconds', h, { route });
    out.push('# HELP tlkit_batch_size Images per model call.', '# TYPE tlkit_batch_size histogram');
    histogramLines(out, 'tlkit_batch_size', this.batchSize, {});
    out.push('# HELP tlkit_batch_duration_seconds Time of one model call.', '# TYPE tlkit_batch_duration_seconds histogram');
    histogramLines(out, 'tlkit_batch_duration_seconds', this.batchSeconds, {});
    out.push('# HELP tlkit_images_classified_total Images the model classified.', '# TYPE tlkit_images_classified_total counter', `tlkit_images_classified_total ${this.images}`);
    out.push('# HELP tlkit_rejected_total Requests refused, by reason.', '# TYPE tlkit_rejected_total counter');
    for (const [reason, n] of this.rejects) out.push(`tlkit_rejected_total${labels({ reason })} ${n}`);
    out.push('# HELP tlkit_queue_depth Images waiting for a model call.', '# TYPE tlkit_queue_depth gauge', `tlkit_queue_depth ${this.gauges.queueDepth()}`);
    out.push('# HELP tlkit_images_admitted Images accepted and not yet answered (decoding, waiting or in a model call).', '# TYPE tlkit_images_admitted gauge', `tlkit_images_admitted ${this.gauges.admitted()}`);
    return out.join('\n') + '\n';
  }
}

function histogramLines(out: string[], name: string, h: Histogram, base: Record<string, string>): void {
  h.buckets.forEach((le, i) => out.push(`${name}_bucket${labels({ ...base, le: String(le) })} ${h.counts[i]}`));
  out.push(`${name}_bucket${labels({ ...base, le: '+Inf' })} ${h.count}`);
  out.push(`${name}_sum${labels(base)} ${h.sum}`);
  out.push(`${name}_count${labels(base)} ${h.count}`);
}
