// `tlkit serve RUN`: the trained classifier as an HTTP service, until SIGTERM or SIGINT, which drain the
// requests in flight before the process exits.
import type { Command } from '../command.js';
import { choiceFlag, numberFlag, parseFlags, stringFlag } from '../args.js';
import { UsageError } from '../../core/errors.js';

const usage = `Usage: tlkit serve RUN [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--cors ORIGIN] [limits...]

Serves a trained model (a run directory, or its model/ folder) over HTTP, inference on onnxruntime:
  POST /v1/predict   an image body (Content-Type image/jpeg, image/png, ...) or multipart/form-data with
                     several images; ?top_k=K. Answers {"predictions": [{"top": [{"className", "index", "probability"}]}]}
  GET  /v1/model     classes, input size, backbone, the run's evaluation metrics, limits
  GET  /healthz      liveness; 503 while draining
  GET  /metrics      Prometheus text: requests, latency, batch sizes, rejections, queue depth
  GET  /             a web page to drop images on, classified by this server

Options:
  --host H                 address to bind (default 127.0.0.1: this machine only)
  --port P                 default 8080; 0 picks a free port
  --api-key KEY            require Authorization: Bearer KEY on /v1/* and /metrics (or set TLKIT_API_KEY)
  --cors ORIGIN            allow this origin (repeatable; default: CORS off)
  --max-batch N            images per model call (default 16)
  --run-batch N            most images per onnxruntime run (default 4)
  --batch-window-ms MS     how long an image waits for others to share its call (default 4)
  --max-queue N            images in hand (decoding, waiting, in the model) beyond which requests
                           get 503 + Retry-After (default 64)
  --max-body-bytes N       largest image in bytes (default 10485760); larger: 413
  --max-images N           most images per multipart request (default 16)
  --limit-input-pixels N   largest decoded width x height (default 40000000); larger: 413
  --max-pixels-per-request N  most pixels in all the images of one request together, read from their
                           headers before decoding (default 100000000); more: 413
  --request-timeout-ms MS  time to send a whole request (default 30000); slower: 408
  --drain-timeout-ms MS    on SIGTERM/SIGINT, how long requests in flight may take to finish before
                           their connections are cut (default 30000)
  --threads N              onnxruntime threads, all sessions together (default: all cores)
  --sessions N             onnxruntime sessions sharing each model call's images, run at once
                           (default: one per thread, the most images a second under load;
                           1: every thread on each call, the lowest latency one request at a time)
  --quantize int8          serve RUN/model.int8.onnx (tlkit export RUN --format onnx --quantize int8)

Security: see docs/security.md (what the server protects and what it leaves to a proxy, e.g. TLS).

SIGTERM or SIGINT: stop accepting, finish the requests in flight (at most --drain-timeout-ms), exit 0.`;

const flags = {
  host: { type: 'string' },
  port: { type: 'string' },
  'api-key': { type: 'string' },
  cors: { type: 'string', multiple: true },
  'max-batch': { type: 'string' },
  'run-batch': { type: 'string' },
  'batch-window-ms': { type: 'string' },
  'max-queue': { type: 'string' },
  'max-body-bytes': { type: 'string' },
  'max-images': { type: 'string' },
  'limit-input-pixels': { type: 'string' },
  'max-pixels-per-request': { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  threads: { type: 'string' },
  sessions: { type: 'string' },
  quantize: { type: 'string' },
} as const;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a trained model over HTTP (predict, model info, health, metrics, web page)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, flags, usage);
    if (positionals.length !== 1) throw new UsageError(`serve expects one RUN (a run directory or model folder); got ${positionals.length}\n\n${usage}`);
    const apiKey = stringFlag(values, 'api-key') ?? (process.env.TLKIT_API_KEY || undefined);
    const cors = values.cors as string[] | undefined;
    const { createServer } = await import('../../serve/server.js');
    const server = await createServer({
      runDir: positionals[0],
      host: stringFlag(values, 'host'),
      port: numberFlag(values, 'port', { integer: true, min: 0, max: 65535 }),
      apiKey,
      cors: cors && cors.length > 0 ? cors : undefined,
      maxBatch: numberFlag(values, 'max-batch', { integer: true, min: 1 }),
      runBatch: numberFlag(values, 'run-batch', { integer: true, min: 1 }),
      batchWindowMs: numberFlag(values, 'batch-window-ms', { min: 0 }),
      maxQueue: numberFlag(values, 'max-queue', { integer: true, min: 1 }),
      maxBodyBytes: numberFlag(values, 'max-body-bytes', { integer: true, min: 1 }),
      maxImagesPerRequest: numberFlag(values, 'max-images', { integer: true, min: 1 }),
      limitInputPixels: numberFlag(values, 'limit-input-pixels', { integer: true, min: 1 }),
      maxPixelsPerRequest: numberFlag(values, 'max-pixels-per-request', { integer: true, min: 1 }),
      drainTimeoutMs: numberFlag(values, 'drain-timeout-ms', { integer: true, min: 1 }),
      requestTimeoutMs: numberFlag(values, 'request-timeout-ms', { integer: true, min: 1 }),
      threads: numberFlag(values, 'threads', { integer: true, min: 1 }),
      sessions: numberFlag(values, 'sessions', { integer: true, min: 1 }),
      quantize: choiceFlag(values, 'quantize', ['int8'] as const),
      onError: (error) => io.stderr.write(`tlkit serve: request failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`),
    });
    const url = await server.listen();
    const m = server.metadata;
    // The handlers go in before the line that says the server is up: a supervisor that stops it as soon
    // as it reads that line must find them there (under load the process can be descheduled between the two).
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    io.stdout.write(`tlkit serve: ${m.backbone}, ${m.classNames.length} classes, ${server.precision}, listening on ${url} (POST ${url}/v1/predict${apiKey ? ', API key required' : ''})\n`);
    const signal = await stopped;
    io.stdout.write(`tlkit serve: ${signal}: finishing the requests in flight\n`);
    await server.close();
    io.stdout.write('tlkit serve: stopped\n');
    return 0;
  },
};
