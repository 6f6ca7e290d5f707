// The submitter's side: a comparison becomes one BullMQ flow (the comparison is the parent job, each run
// a child), then the submitter waits by polling, which survives Redis restarts and lets the submitter
// leave at any time (`detach`, Ctrl-C): the jobs run on, and the parent writes the report when the last
// run has ended.
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { FlowProducer, Queue, type Job } from 'bullmq';
import type { CompareHooks, ComparisonPlan, ComparisonQueue } from '../compare/compare.js';
import type { CompareResult } from '../compare/types.js';
import type { CompareReportFiles } from '../report/write_compare_report.js';
import { TlkitError, UsageError } from '../core/errors.js';
import { createRedis, type QueueConnectionOptions } from './connection.js';
import { fingerprintDataset } from './fingerprint.js';
import { CANCEL_KEY, COMPARISONS_QUEUE, RUNS_QUEUE, type ComparisonJobData, type ComparisonJobResult, type RelativePaths, type RunJobData, type RunJobResult, type RunProgress } from './jobs.js';
import { relativeToRoot, type QueueRoots } from './roots.js';

export interface QueueClientOptions extends Partial<QueueRoots>, QueueConnectionOptions {
  /** BullMQ key prefix; the same on submitter and workers. Default 'bull'. */
  prefix?: string;
  /** How often the waiting submitter polls the jobs. Default 1000 ms. */
  pollMs?: number;
}

export interface RunStatus {
  label: string;
  /** waiting, active, completed, failed, skipped, or unknown (removed). */
  state: string;
  worker?: string;
  epoch?: number;
  epochs?: number;
  etaSeconds?: number;
  /** Set when a lost worker's run was taken up again from its checkpoint. */
  resumedFrom?: string;
  /** Times the run was taken back from a lost worker. */
  lostWorkers?: number;
  error?: string;
  accuracy?: number;
}

export interface ComparisonStatus {
  id: string;
  /** waiting-children (runs under way), waiting/active (report being written), completed, failed, cancelled, unknown. */
  state: string;
  runs: RunStatus[];
  error?: string;
  /** Once completed: the report files, resolved under this client's runs root. */
  files?: CompareReportFiles;
}

export interface QueueClient extends ComparisonQueue {
  /** Enqueues the plan's runs; returns the comparison id at once. */
  submit(plan: ComparisonPlan): Promise<string>;
  /** Waits for a submitted comparison; Ctrl-C or an abort leaves its jobs running. */
  /** The result with this machine's paths, and the report files the worker wrote. */
  wait(id: string, hooks?: CompareHooks & { onStatus?: (status: ComparisonStatus) => void; signal?: AbortSignal }): Promise<CompareResult & { files: CompareReportFiles }>;
  status(id: string): Promise<ComparisonStatus>;
  /** Stops a comparison: waiting runs are dropped, runs under way are killed by their workers. */
  cancel(id: string): Promise<ComparisonStatus>;
  close(): Promise<void>;
}

/** A weights value that names a file is sent relative to the data root; names ('imagenet', 'none') as they are. */
function weightsPath(weights: string | undefined, dataRoot: string): { weights?: string; weightsFile?: string } {
  if (weights === undefined || !existsSync(weights) || !statSync(weights).isFile()) return { weights };
  return { weightsFile: relativeToRoot(dataRoot, weights, 'weights file', '--data-root') };
}

function newComparisonId(): string {
  const time = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `cmp-${time}-${randomBytes(3).toString('hex')}`;
}

const KEEP = { age: 14 * 24 * 3600 };

export function connectQueue(url: string, options: QueueClientOptions = {}): QueueClient {
  const dataRoot = resolve(options.dataRoot ?? '.');
  const runsRoot = resolve(options.runsRoot ?? '.');
  const prefix = options.prefix ?? 'bull';
  const redis = createRedis(url, options);
  const flows = new FlowProducer({ connection: redis, prefix });
  const runsQueue = new Queue<RunJobData, RunJobResult>(RUNS_QUEUE, { connection: redis, prefix });
  const comparisons = new Queue<ComparisonJobData, ComparisonJobResult>(COMPARISONS_QUEUE, { connection: redis, prefix });
  const pollMs = options.pollMs ?? 1000;
  // While Redis is away, commands wait for the reconnection; the connection errors meanwhile say nothing new.
  flows.on('error', () => undefined);
  runsQueue.on('error', () => undefined);
  comparisons.on('error', () => undefined);

  async function submit(plan: ComparisonPlan): Promise<string> {
    const id = newComparisonId();
    const o = plan.options;
    const paths: RelativePaths = {
      dataDir: relativeToRoot(dataRoot, o.dataDir, 'dataset', '--data-root'),
      ...(o.valDir !== undefined ? { valDir: relativeToRoot(dataRoot, o.valDir, 'validation folder', '--data-root') } : {}),
    };
    const outDir = relativeToRoot(runsRoot, o.outDir, 'out dir', '--runs-root');
    const fingerprints = {
      dataDir: await fingerprintDataset(resolve(o.dataDir)),
      ...(o.valDir !== undefined ? { valDir: await fingerprintDataset(resolve(o.valDir)) } : {}),
    };
    const runs: ComparisonJobData['runs'] = [];
    const children = [];
    for (const [index, run] of plan.runs.entries()) {
      const jobId = run.skipped ? undefined : `${id}-run${index + 1}`;
      runs.push({ label: run.label, backbone: run.backbone, settings: run.settings, dirName: run.dirName, weightsReason: run.weightsReason, ...(run.skipped ? { skipped: run.skipped } : {}), ...(jobId ? { jobId } : {}) });
      if (!jobId) continue;
      const { dataDir: _d, valDir: _v, outDir: runOut, weights, ...train } = run.train;
      const w = weightsPath(weights, dataRoot);
      const data: RunJobData = {
        comparisonId: id,
        index,
        label: run.label,
        backbone: run.backbone,
        settings: run.settings,
        train: { ...train, ...(w.weights !== undefined ? { weights: w.weights } : {}) },
        paths: { ...paths, ...(w.weightsFile ? { weightsFile: w.weightsFile } : {}) },
        outDir: relativeToRoot(runsRoot, runOut, 'run directory', '--runs-root'),
        fingerprints,
      };
      children.push({ name: run.label, queueName: RUNS_QUEUE, data, opts: { jobId, attempts: 1, ignoreDependencyOnFailure: true, removeOnComplete: KEEP, removeOnFail: KEEP } });
    }
    const { dataDir: _d, valDir: _v, outDir: _o, weights, ...shared } = o;
    const w = weightsPath(weights, dataRoot);
    const data: ComparisonJobData = {
      comparisonId: id,
      options: { ...shared, ...(w.weights !== undefined ? { weights: w.weights } : w.weightsFile ? { weights: w.weightsFile } : {}) },
      paths,
      outDir,
      rule: plan.rule,
      seed: plan.seed,
      startedAt: plan.startedAt,
      runs,
    };
    await flows.add({ name: 'comparison', queueName: COMPARISONS_QUEUE, data, opts: { jobId: id, attempts: 1, removeOnComplete: KEEP, removeOnFail: KEEP }, children });
    return id;
  }

  async function status(id: string): Promise<ComparisonStatus> {
    // As for the runs below: the state first, so that the job read after it holds its reason or result.
    let state: string = await comparisons.getJobState(id);
    const parent = (await comparisons.getJob(id)) as Job<ComparisonJobData, ComparisonJobResult> | undefined;
    const cancelled = (await redis.exists(CANCEL_KEY(prefix, id))) === 1;
    if (!parent) return { id, state: cancelled ? 'cancelled' : 'unknown', runs: [] };
    const runs: RunStatus[] = [];
    for (const run of parent.data.runs) {
      if (run.skipped || !run.jobId) {
        runs.push({ label: run.label, state: 'skipped', error: run.skipped });
        continue;
      }
      // The state first, then the job: a job read before it failed would show 'failed' without its reason.
      const state = await runsQueue.getJobState(run.jobId);
      const job = state === 'unknown' ? undefined : ((await runsQueue.getJob(run.jobId)) as Job<RunJobData, RunJobResult> | undefined);
      if (!job) {
        runs.push({ label: run.label, state: 'unknown' });
        continue;
      }
      const p = (typeof job.progress === 'object' ? job.progress : {}) as Partial<RunProgress>;
      const row = job.returnvalue?.row;
      runs.push({
        label: run.label,
        state,
        ...(job.returnvalue?.worker ?? p.worker ? { worker: job.returnvalue?.worker ?? p.worker } : {}),
        ...(state === 'active' && p.epoch !== undefined ? { epoch: p.epoch, epochs: p.epochs, etaSeconds: p.etaSeconds } : {}),
        ...(job.returnvalue?.resumedFrom ?? p.resumedFrom ? { resumedFrom: job.returnvalue?.resumedFrom ?? p.resumedFrom } : {}),
        ...(job.stalledCounter ? { lostWorkers: job.stalledCounter } : {}),
        ...(state === 'failed' ? { error: job.failedReason } : {}),
        ...(row?.ok ? { accuracy: row.accuracy } : {}),
      });
    }
    if (cancelled && state !== 'completed') state = 'cancelled';
    const files = state === 'completed' && parent.returnvalue ? resolveFiles(parent.returnvalue.files) : undefined;
    return { id, state, runs, ...(state === 'failed' ? { error: parent.failedReason } : {}), ...(files ? { files } : {}) };
  }

  function resolveFiles(files: ComparisonJobResult['files']): CompareReportFiles {
    return { html: resolve(runsRoot, files.html), markdown: resolve(runsRoot, files.markdown), json: resolve(runsRoot, files.json) };
  }

  async function wait(id: string, hooks: Parameters<QueueClient['wait']>[1] = {}): ReturnType<QueueClient['wait']> {
    const log = hooks.onLog ?? (() => undefined);
    const said = new Map<string, string>();
    for (;;) {
      if (hooks.signal?.aborted) throw new TlkitError(`stopped waiting for comparison ${id}; its runs go on (tlkit status ${id})`);
      const s = await status(id);
      hooks.onStatus?.(s);
      for (const [i, run] of s.runs.entries()) {
        // A line when the state, worker or epoch changes (not each time the ETA ticks).
        const key = describeRun({ ...run, etaSeconds: undefined });
        if (said.get(run.label) === key) continue;
        const first = !said.has(run.label);
        said.set(run.label, key);
        if (!(first && run.state === 'waiting')) log(`[${i + 1}/${s.runs.length} ${run.label}] ${describeRun(run)}`);
      }
      if (s.state === 'completed') {
        const parent = (await comparisons.getJob(id)) as Job<ComparisonJobData, ComparisonJobResult>;
        const { result, files } = parent.returnvalue;
        // The worker's paths, as this machine sees them.
        const { paths, outDir } = parent.data;
        return { ...result, dataset: resolve(dataRoot, paths.dataDir), heldOutDir: resolve(dataRoot, paths.valDir ?? paths.dataDir), outDir: resolve(runsRoot, outDir), files: resolveFiles(files) };
      }
      if (s.state === 'failed' || s.state === 'cancelled' || s.state === 'unknown') {
        throw new TlkitError(`comparison ${id} ${s.state}${s.error ? `: ${s.error}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async function cancel(id: string): Promise<ComparisonStatus> {
    const parent = await comparisons.getJob(id);
    if (!parent) throw new UsageError(`no comparison ${id} in this queue`, 'cancel');
    await redis.set(CANCEL_KEY(prefix, id), '1', 'EX', KEEP.age);
    // Runs not yet started go at once; those under way are killed by their workers, which watch the flag.
    for (const run of (parent.data as ComparisonJobData).runs) {
      if (!run.jobId) continue;
      const job = await runsQueue.getJob(run.jobId);
      if (job && ['waiting', 'delayed', 'prioritized'].includes(await job.getState())) await job.remove().catch(() => undefined);
    }
    return status(id);
  }

  return {
    submit,
    wait,
    status,
    cancel,
    async runComparison(plan, hooks) {
      const id = await submit(plan);
      hooks.onLog?.(`comparison ${id}: ${plan.runs.length} runs queued`);
      const { files: _files, ...result } = await wait(id, hooks);
      return result;
    },
    async close() {
      await Promise.all([flows.close(), runsQueue.close(), comparisons.close()]);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export function describeRun(run: RunStatus): string {
  const parts: string[] = [run.state];
  if (run.worker && run.state !== 'waiting') parts.push(`on ${run.worker}`);
  if (run.epoch !== undefined) parts.push(`epoch ${run.epoch}/${run.epochs}`);
  if (run.etaSeconds !== undefined) parts.push(`ETA ${formatSeconds(run.etaSeconds)}`);
  if (run.resumedFrom) parts.push(`resumed at ${run.resumedFrom}`);
  if (run.accuracy !== undefined) parts.push(`accuracy ${run.accuracy.toFixed(3)}`);
  if (run.error) parts.push(`error: ${run.error}`);
  return parts.join(', ');
}

function formatSeconds(s: number): string {
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}
