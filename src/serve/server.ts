// `tlkit serve`: the trained classifier behind HTTP, on fastify. Images are decoded in memory (sharp),
// batched across concurrent requests (MicroBatcher) and classified on onnxruntime in a worker thread,
// so the event loop keeps accepting, decoding and answering while the model runs.
//
//   POST /v1/predict   image body (image/*, application/octet-stream) or multipart/form-data with
//                      several images; ?top_k=K -> { predictions: [{ file?, top: [{ className, index, probability }] }] }
//   GET  /v1/model     classes, input size, precision served, backbone, the run's evaluation metrics, serving limits
//   GET  /healthz      { status: 'ok' }, 503 while draining
//   GET  /metrics      Prometheus text
//   GET  /             the web page, classifying through this server
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DEFAULT_LIMIT_INPUT_PIXELS } from '../data/decode.js';
import { createOnnxPredictor, type OnnxPredictor } from '../engines/onnx/predictor.js';
import { defaultThreadCount } from '../engines/onnx/session.js';
import { initEngine } from '../engines/tfjs/tf.js';
import { invalidArgument } from '../core/errors.js';
import { readRegularFile } from '../core/regular_file.js';
import { classProbabilities, topOf, type ClassProbability } from '../inference/top_classes.js';
import { loadModel, resolveModelDir, type ModelMetadata } from '../weights/saved_model.js';
import { readQuantizedOnnx, type ServingPrecision } from '../weights/quantized_onnx.js';
import { apiKeyCheck, type ApiKeyCheck } from './api_key.js';
import { bundlePageScript } from './bundle.js';
import { pageConfigFor } from './export_web.js';
import { ServeMetrics } from './metrics.js';
import { BatcherClosedError, MicroBatcher, QueueFullError } from './micro_batcher.js';
import { checkRequestPixels, decodeUpload, HttpError, type UploadedImage } from './request_images.js';
import { modelInputInto } from '../data/model_input.js';
import { renderWebPage } from './web_page.js';

export interface ServeOptions {
  /** A run directory or its model/ folder. */
  runDir: string;
  /** Default '127.0.0.1' (loopback only). */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** When set, /v1/* and /metrics require `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Origins allowed by CORS; default none (CORS off). */
  cors?: string | string[];
  /** Most images per model call. Default 16. */
  maxBatch?: number;
  /** How long a lone image waits for company before its model call. Default 4 ms. */
  batchWindowMs?: number;
  /** Most images admitted and not yet answered (decoding, waiting or in the model call); beyond it, 503 + Retry-After. Default 64. */
  maxQueue?: number;
  /** Largest image body (or multipart file) in bytes. Default 10 MiB. */
  maxBodyBytes?: number;
  /** Most images in one multipart request. Default 16. */
  maxImagesPerRequest?: number;
  /** Largest decoded image (width x height), against decompression bombs. Default 40 megapixels. */
  limitInputPixels?: number;
  /** Most pixels in all the images of one request together (from headers, before decoding); more: 413. Default 100 MP. */
  // (or limitInputPixels when that is larger: one image at the per-image limit always fits)
  maxPixelsPerRequest?: number;
  /** Time a client has to send a whole request (headers and body); slower ones get 408. Default 30 s. */
  requestTimeoutMs?: number;
  /** Time a client has to send the headers. Default 10 s (at most requestTimeoutMs). */
  headersTimeoutMs?: number;
  /** On close() (SIGTERM), how long requests in flight may take before their connections are cut. Default 30 s. */
  // (Node stops its request timeouts once the server closes: without this a trickling client holds the process for ever.)
  drainTimeoutMs?: number;
  /** Classes per image when the request does not say (?top_k). Default min(5, classes). */
  topK?: number;
  /** Retry-After, in seconds, on 503. Default 1. */
  retryAfterSeconds?: number;
  /** onnxruntime threads, all sessions together. Default: all cores. */
  threads?: number;
  /**
   * onnxruntime sessions that share the model calls' images between them and run at once (a free session
   * takes the next waiting image; one model call per session is in flight), the threads
   * shared out among them. Default: one per thread (the most images a second under load: on this 2-core
   * machine 1.2x one session with both threads); 1 gives a lone request every thread (lowest latency
   * when requests come one at a time).
   */
  sessions?: number;
  /**
   * 'int8': serve RUN/model.int8.onnx (`tlkit export RUN --format onnx --quantize int8`) instead of
   * the float32 export; /v1/model says which precision is served. Default: float32.
   */
  quantize?: 'int8';
  /**
   * Most images a session takes from the queue for one onnxruntime run (fewer when fewer wait: at most
   * an equal share per session). Default 4: with one single-thread session per core, MobileNetV2@224
   * served int8 4-9% faster in runs of 4 than one image at a time, float32 the same within noise
   * (docs/deployment.md); a lone request still runs alone.
   */
  runBatch?: number;
  /** Where unexpected (5xx) errors are reported; the library never prints. */
  onError?: (error: unknown) => void;
}

export interface TlkitServer {
  /** Starts listening; resolves with the base URL (http://host:port). */
  listen(): Promise<string>;
  /** Stops accepting, lets in-flight requests finish, then frees the model. Idempotent. */
  close(): Promise<void>;
  readonly metadata: ModelMetadata;
  /** What the model computes in: 'float32', or 'int8' (options.quantize). */
  readonly precision: ServingPrecision;
  /** The fastify instance (e.g. for `inject` in tests or extra routes before listen). */
  readonly app: FastifyInstance;
  /** Every route served (method, path pattern) and whether it needs the API key when one is set. */
  readonly routes: ServedRoute[];
}

export interface ServedRoute {
  method: string;
  url: string;
  requiresApiKey: boolean;
}

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/bmp', 'image/x-portable-pixmap'];
const ACCEPTED = `an image body (Content-Type ${IMAGE_TYPES.slice(0, 5).join(', ')}, ... or application/octet-stream) or multipart/form-data with image files`;

function positiveInteger(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) throw invalidArgument(name, value, `an integer >= ${min}`);
  return value;
}

async function evaluationSummary(modelDir: string): Promise<Record<string, unknown> | null> {
  // A run directory keeps evaluation.json beside model/; a bare model folder has none.
  for (const file of [join(dirname(modelDir), 'evaluation.json'), join(modelDir, 'evaluation.json')]) {
    try {
      // Read only as a regular file: a FIFO named evaluation.json would hang start-up.
      const e = JSON.parse((await readRegularFile(file)).toString('utf8')) as Record<string, unknown>;
      return { accuracy: e.accuracy, loss: e.loss, samples: e.samples, macro: e.macro };
    } catch {
      // not there or not readable: try the next place
    }
  }
  return null;
}

/** Loads the model (exported to ONNX once) and builds the service; call listen() to serve. */
export async function createServer(options: ServeOptions): Promise<TlkitServer> {
  const host = options.host ?? '127.0.0.1';
  const port = positiveInteger('port', options.port, 8080, 0);
  const maxBatch = positiveInteger('maxBatch', options.maxBatch, 16);
  const maxQueue = positiveInteger('maxQueue', options.maxQueue, 64);
  const runBatch = positiveInteger('runBatch', options.runBatch, 4);
  const threads = positiveInteger('threads', options.threads, defaultThreadCount());
  const sessions = positiveInteger('sessions', options.sessions, threads);
  if (sessions > threads) throw invalidArgument('sessions', sessions, `at most threads (${threads}): each session needs a thread of its own`);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes, 10 * 1024 * 1024);
  const maxImagesPerRequest = positiveInteger('maxImagesPerRequest', options.maxImagesPerRequest, 16);
  if (maxImagesPerRequest > maxQueue) throw invalidArgument('maxImagesPerRequest', maxImagesPerRequest, `at most maxQueue (${maxQueue}), or such a request could never be queued`);
  const limitInputPixels = positiveInteger('limitInputPixels', options.limitInputPixels, Math.min(40_000_000, DEFAULT_LIMIT_INPUT_PIXELS));
  const maxPixelsPerRequest = positiveInteger('maxPixelsPerRequest', options.maxPixelsPerRequest, Math.max(100_000_000, limitInputPixels));
  const drainTimeoutMs = positiveInteger('drainTimeoutMs', options.drainTimeoutMs, 30_000);
  const requestTimeoutMs = positiveInteger('requestTimeoutMs', options.requestTimeoutMs, 30_000);
  const headersTimeoutMs = Math.min(requestTimeoutMs, positiveInteger('headersTimeoutMs', options.headersTimeoutMs, 10_000));
  const retryAfter = String(positiveInteger('retryAfterSeconds', options.retryAfterSeconds, 1));
  const windowMs = options.batchWindowMs ?? 4;
  if (!(windowMs >= 0)) throw invalidArgument('batchWindowMs', windowMs, 'a number >= 0');
  const checkKey: ApiKeyCheck | undefined = options.apiKey === undefined ? undefined : apiKeyCheck(options.apiKey);

  await initEngine();
  const modelDir = resolveModelDir(options.runDir);
  const { model, metadata } = await loadModel(modelDir);
  const defaultTopK = positiveInteger('topK', options.topK, Math.min(5, metadata.classNames.length));
  if (options.quantize !== undefined && options.quantize !== 'int8') throw invalidArgument('quantize', options.quantize, "'int8' (or leave it out for float32)");
  const precision: ServingPrecision = options.quantize ?? 'float32';
  let predictor: OnnxPredictor;
  try {
    const onnxModel = precision === 'int8' ? await readQuantizedOnnx(modelDir) : undefined;
    predictor = await createOnnxPredictor(model, { worker: true, batchSize: runBatch, intraOpNumThreads: threads, sessions, onnxModel });
  } finally {
    model.dispose();
  }
  const [h, w] = metadata.inputSize;
  const rowSize = h * w * 3;
  const batchBuffers: Float32Array[] = [];
  const batcher = new MicroBatcher<Uint8Array, number[]>({
    maxBatch,
    windowMs,
    maxQueue,
    // One model call per session at once: the next batch waits in the sessions' queue, not for an answer.
    maxConcurrent: sessions,
    async run(inputs) {
      // Each image waits as its 8-bit pixels and becomes a float32 row only here, in the batch itself, a
      // buffer of a past call's (fresh memory costs page faults on every call: ~0.4 ms an image here).
      const buffer = batchBuffers.pop() ?? new Float32Array(maxBatch * rowSize);
      try {
        const batch = buffer.subarray(0, inputs.length * rowSize);
        inputs.forEach((rgb, i) => modelInputInto(rgb, metadata, batch, i * rowSize));
        const out = await predictor.predictArray(batch, [inputs.length, h, w, 3]);
        const units = out.data.length / inputs.length;
        return inputs.map((_, i) => classProbabilities(out.data.subarray(i * units, (i + 1) * units)));
      } finally {
        batchBuffers.push(buffer);
      }
    },
    onBatch: (size, ms) => metrics.batch(size, ms),
  });
  let draining = false;
  let admitted = 0;
  const metrics = new ServeMetrics({ queueDepth: () => batcher.depth, admitted: () => admitted });
  const evaluation = await evaluationSummary(modelDir);
  const pageScript = await bundlePageScript('server');
  // The page at / is open to anyone who reaches the server; with a key it says nothing about the model
  // (no class names, backbone or title from them): those come with the answers to keyed requests.
  const pageConfig = pageConfigFor(metadata, 'server', { topK: defaultTopK, ...(checkKey ? { title: 'tlkit classifier' } : {}) });
  const pageHtml = renderWebPage({ ...pageConfig, ...(checkKey ? { classNames: [], backbone: '' } : {}), predictUrl: 'v1/predict' }, 'app.js');

  const app = Fastify({
    logger: false,
    bodyLimit: maxBodyBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Node's own timers bound slow clients: the whole request within requestTimeout (else 408), checked
    // often enough that a stalled upload is cut close to its deadline.
    serverFactory: (handler) =>
      createHttpServer(
        { requestTimeout: requestTimeoutMs, headersTimeout: headersTimeoutMs, connectionsCheckingInterval: Math.max(50, Math.min(1000, requestTimeoutMs / 4)), keepAliveTimeout: 5000 },
        handler as (req: IncomingMessage, res: ServerResponse) => void,
      ) as Server,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...IMAGE_TYPES, 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) => done(null, body));
  await app.register((await import('@fastify/multipart')).default, {
    limits: { fileSize: maxBodyBytes, files: maxImagesPerRequest, fields: 16, parts: maxImagesPerRequest + 16, fieldSize: 4096, headerPairs: 100 },
  });
  if (options.cors !== undefined) {
    await app.register((await import('@fastify/cors')).default, { origin: Array.isArray(options.cors) ? options.cors : [options.cors], methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'] });
  }

  // Routes, as registered (method + path pattern) and whether they need the key: the hostile-client test
  // derives its attack paths from this list, so a new route is covered without editing the test.
  const routes: { method: string; url: string }[] = [];
  const keyedRoutes = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.request(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((error: FastifyError | HttpError, request: FastifyRequest, reply: FastifyReply) => {
    const http = toHttpError(error, request.headers['content-type'], maxBodyBytes, maxImagesPerRequest);
    if (!http) {
      options.onError?.(error);
      return reply.status(500).send({ error: 'internal', message: 'the server failed to handle this request' });
    }
    if (http.reject) metrics.reject(http.reject);
    return reply.status(http.statusCode).headers(http.headers).send({ error: http.code, message: http.message });
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }));

  app.get('/healthz', async (_request, reply) => (draining ? reply.status(503).send({ status: 'draining' }) : { status: 'ok' }));
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(pageHtml));
  app.get('/app.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(pageScript));
  // The key is checked on the route fastify matched (after it decoded the path), never on the raw URL:
  // `/%761/predict` is /v1/predict to the router, so it must be to the check too. Every route registered
  // in this scope passes the scope's hook first; nothing outside it needs the key.
  await app.register(async (keyed) => {
    keyed.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) keyedRoutes.add(`${method} ${route.url}`);
    });
    keyed.addHook('onRequest', async (request, reply) => {
      if (checkKey && !checkKey(request.headers.authorization)) {
        reply.header('www-authenticate', 'Bearer');
        throw new HttpError(401, 'unauthorized', 'this server needs an API key: send Authorization: Bearer <key>', 'unauthorized');
      }
    });
    keyed.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metrics.render()));
    keyed.get('/v1/model', async () => ({
      backbone: metadata.backbone,
      classNames: metadata.classNames,
      classMode: metadata.classMode,
      inputSize: metadata.inputSize,
      precision,
      preprocess: metadata.preprocess,
      rescale: metadata.rescale ?? null,
      weightsSource: metadata.weightsSource,
      createdAt: metadata.createdAt,
      tlkitVersion: metadata.tlkitVersion,
      metrics: evaluation,
      limits: { maxBodyBytes, maxImagesPerRequest, limitInputPixels, maxPixelsPerRequest, maxBatch, runBatch, threads, sessions, batchWindowMs: windowMs, maxQueue, requestTimeoutMs },
    }));
    keyed.post('/v1/predict', async (request) => {
      const topK = parseTopK((request.query as Record<string, unknown>).top_k, defaultTopK, metadata.classNames.length);
      const multipart = request.isMultipart();
      const images = multipart ? await multipartImages(request) : [bodyImage(request.body, request.headers['content-type'])];
      await checkRequestPixels(images, maxPixelsPerRequest, limitInputPixels);
      // Admitted images count from here (decoding too, which is where big images cost memory) until answered.
      if (admitted + images.length > maxQueue) throw queueFull(admitted, retryAfter);
      admitted += images.length;
      let outcomes: (number[] | HttpError)[];
      try {
        // Each image stands alone: in a multipart request a bad part gets its own error beside the
        // others' answers; only when every image fails does the request fail (with the first one's status).
        const decoded = await Promise.allSettled(images.map((image) => decodeUpload(image, metadata, limitInputPixels)));
        const failed = decoded.find((d): d is PromiseRejectedResult => d.status === 'rejected' && !(d.reason instanceof HttpError));
        if (failed) throw failed.reason;
        if (decoded.every((d) => d.status === 'rejected')) throw (decoded[0] as PromiseRejectedResult).reason;
        const rows = await batcher.submit(decoded.flatMap((d) => (d.status === 'fulfilled' ? [d.value] : [])));
        outcomes = decoded.map((d) => (d.status === 'fulfilled' ? rows.shift()! : (d.reason as HttpError)));
      } catch (error) {
        if (error instanceof QueueFullError) throw queueFull(error.depth, retryAfter);
        if (error instanceof BatcherClosedError) throw new HttpError(503, 'shutting_down', 'the server is shutting down', 'shutting_down', { 'retry-after': retryAfter });
        throw error;
      } finally {
        admitted -= images.length;
      }
      return {
        predictions: outcomes.map((outcome, i): PredictionAnswer => {
          const file = multipart ? { file: images[i].name } : {};
          if (Array.isArray(outcome)) return { ...file, top: topOf(outcome, metadata.classNames, topK) };
          if (outcome.reject) metrics.reject(outcome.reject);
          return { ...file, error: { status: outcome.statusCode, code: outcome.code, message: outcome.message } };
        }),
      };
    });
  });

  let url: string | undefined;
  let closing: Promise<void> | undefined;
  return {
    metadata,
    precision,
    app,
    get routes() {
      return routes.map((r) => ({ ...r, requiresApiKey: keyedRoutes.has(`${r.method} ${r.url}`) }));
    },
    async listen() {
      await app.listen({ host, port });
      const address = app.server.address() as AddressInfo;
      url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
      return url;
    },
    close() {
      closing ??= (async () => {
        draining = true;
        // fastify stops accepting and waits for the requests in flight, whose images are in the batcher;
        // past drainTimeoutMs the connections still open are cut (a client trickling its body would
        // otherwise keep the process alive for ever: Node's request timeouts stop with the server).
        const closed = app.close();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([closed.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), drainTimeoutMs)))]);
        clearTimeout(timer);
        if (timedOut) app.server.closeAllConnections();
        await closed;
        await batcher.close();
        await predictor.dispose();
      })();
      return closing;
    },
  };
}

/** One image's answer: its classes, or (multipart, when other parts succeeded) why it could not be classified. */
type PredictionAnswer = { file?: string } & ({ top: ClassProbability[] } | { error: { status: number; code: string; message: string } });

function queueFull(admitted: number, retryAfter: string): HttpError {
  return new HttpError(503, 'queue_full', `the server is busy (${admitted} images in hand); retry after ${retryAfter} s`, 'queue_full', { 'retry-after': retryAfter });
}

function parseTopK(value: unknown, fallback: number, classes: number): number {
  if (value === undefined || value === '') return fallback;
  const k = Number(value);
  if (!Number.isInteger(k) || k < 1) throw new HttpError(400, 'bad_top_k', `top_k must be an integer >= 1; got ${JSON.stringify(value)}`, 'bad_request');
  return Math.min(k, classes);
}

function bodyImage(body: unknown, contentType: string | undefined): UploadedImage {
  if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) {
    throw new HttpError(400, 'empty_body', `the request has no body: send ${ACCEPTED}`, 'bad_request');
  }
  if (!Buffer.isBuffer(body)) throw new HttpError(415, 'unsupported_media_type', `Content-Type ${contentType ?? '(none)'} is not accepted: send ${ACCEPTED}`, 'unsupported_media_type');
  return { name: 'body', bytes: body };
}

async function multipartImages(request: FastifyRequest): Promise<UploadedImage[]> {
  const images: UploadedImage[] = [];
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue;
      // toBuffer enforces the per-file size limit while reading (413); the bytes stay in memory.
      images.push({ name: part.filename || part.fieldname, bytes: await part.toBuffer() });
    }
  } catch (error) {
    // The parser's own complaints (no boundary, cut-off form) carry no status: they are the client's.
    if ((error as FastifyError).statusCode !== undefined) throw error;
    throw new HttpError(400, 'bad_multipart', `the multipart body cannot be read (${(error as Error).message})`, 'bad_request');
  }
  if (images.length === 0) throw new HttpError(400, 'no_images', 'the multipart body has no file parts: add one part per image (e.g. curl -F image=@photo.jpg)', 'bad_request');
  return images;
}

/** Client errors from fastify and its plugins, reworded to say what the limit is; undefined for a server fault. */
function toHttpError(error: FastifyError | HttpError, contentType: string | undefined, maxBodyBytes: number, maxImages: number): HttpError | undefined {
  if (error instanceof HttpError) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new HttpError(413, 'too_large', `an image is larger than the limit maxBodyBytes=${maxBodyBytes} bytes`, 'too_large');
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new HttpError(413, 'too_many_images', `a request may carry at most maxImagesPerRequest=${maxImages} images`, 'too_large');
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new HttpError(400, 'bad_multipart', `the multipart body cannot be read (${error.message})`, 'bad_request');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'unsupported_media_type', `Content-Type ${contentType ?? '(none)'} is not accepted: send ${ACCEPTED}`, 'unsupported_media_type');
    default: {
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return new HttpError(status, (error.code ?? 'bad_request').toLowerCase(), error.message, 'bad_request');
      return undefined;
    }
  }
}
