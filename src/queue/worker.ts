// `startWorker`: takes runs off the queue and trains each in a child process (run_process.ts), and writes
// a comparison's report when its last run has ended (the comparison is the flow's parent job, so the
// report is written even when nobody waits for it). A worker that dies mid-run loses its lock; BullMQ
// hands the job to another worker, which resumes the run from its last checkpoint.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { finishComparison, type ComparisonPlan } from '../compare/compare.js';
import type { CompareRow } from '../compare/types.js';
import { writeCompareReport } from '../report/write_compare_report.js';
import { invalidArgument } from '../core/errors.js';
import { runDirLayout } from '../train/run/run_dir.js';
import { LOCK_FILE, readRunLock } from '../train/run/run_lock.js';
import { createRedis, parseQueueUrl, type QueueConnectionOptions } from './connection.js';
import { checkFingerprint } from './fingerprint.js';
import { CANCEL_KEY, COMPARISONS_QUEUE, RUNS_QUEUE, type ComparisonJobData, type ComparisonJobResult, type RunJobData, type RunJobResult, type RunProgress } from './jobs.js';
import { resolveUnderRoot, type QueueRoots } from './roots.js';
import { RunProcessPool } from './run_in_child.js';
import { RunProgressTracker } from './run_progress.js';

export interface WorkerOptions extends QueueRoots, QueueConnectionOptions {
  /** redis://[:password@]host:port or rediss://... */
  queue: string;
  /** Runs trained at once by this worker, each in its own process. Default 1. */
  concurrency?: number;
  /** onnxruntime threads per run (TLKIT_THREADS in the run's process). Default: the machine's cores. */
  threads?: number;
  /** BullMQ key prefix; the same on submitter and workers. Default 'bull'. */
  prefix?: string;
  /** Shown as the run's worker in status; default host:pid. */
  name?: string;
  /**
   * How long a run's lock lives without renewal; a lost worker's run goes back to the queue after about
   * this long (plus the stall check's interval). Default 30 s.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /**
   * Cache root of the feature stores the runs share (stores under `<dir>/features/`), false: none kept.
   * Default: `<runsRoot>/.tlkit-cache`, on the shared folder, so every worker reads what any computed.
   * Images are identified by content there (each machine mounts the data at its own path).
   */
  featureStore?: string | false;
  onLog?: (message: string) => void;
}

export interface QueueWorker {
  readonly name: string;
  /** Stops taking jobs; with `force`, kills runs under way (they go back to the queue once their locks expire). */
  close(force?: boolean): Promise<void>;
}

/** Times a run may be taken back from a lost worker before it counts as failed. */
const MAX_LOST_WORKERS = 5;
/** Beside the run directories (a new run needs an empty one): which job started which run. */
const MARKERS = '.tlkit-queue';

export async function startWorker(options: WorkerOptions): Promise<QueueWorker> {
  parseQueueUrl(options.queue);
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw invalidArgument('concurrency', concurrency, 'an integer >= 1');
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) throw invalidArgument('threads', options.threads, 'an integer >= 1');
  for (const root of ['dataRoot', 'runsRoot'] as const) {
    if (!options[root] || !existsSync(options[root])) throw invalidArgument(root, options[root], 'an existing folder (the shared folder as this machine sees it)');
  }
  const log = options.onLog ?? (() => undefined);
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const prefix = options.prefix ?? 'bull';
  const redis = createRedis(options.queue, options);
  const children = new Map<string, { kill(): void; lostLock: boolean; renewedAt: number }>();
  const pool = new RunProcessPool(options.threads);
  pool.prewarm(concurrency);
  const isCancelled = async (id: string) => (await redis.exists(CANCEL_KEY(prefix, id))) === 1;
  const lockDuration = options.lockDurationMs ?? 30_000;
  const common = { connection: redis, prefix, lockDuration, stalledInterval: options.stalledIntervalMs ?? lockDuration, maxStalledCount: MAX_LOST_WORKERS, name };

  async function trainRunJob(job: Job<RunJobData>): Promise<RunJobResult> {
    const data = job.data;
    const tag = `[${data.comparisonId} ${data.label}]`;
    if (await isCancelled(data.comparisonId)) throw new UnrecoverableError('cancelled');
    // Refusals and data mismatches are failures of the job, not of the worker: never retried.
    let dataDir: string, valDir: string | undefined, weights: string | undefined, outDir: string;
    try {
      dataDir = resolveUnderRoot(options.dataRoot, data.paths.dataDir, 'dataDir');
      valDir = data.paths.valDir === undefined ? undefined : resolveUnderRoot(options.dataRoot, data.paths.valDir, 'valDir');
      weights = data.paths.weightsFile === undefined ? data.train.weights : resolveUnderRoot(options.dataRoot, data.paths.weightsFile, 'weights');
      outDir = resolveUnderRoot(options.runsRoot, data.outDir, 'outDir');
      await checkFingerprint(dataDir, data.fingerprints.dataDir, name);
      if (valDir && data.fingerprints.valDir) await checkFingerprint(valDir, data.fingerprints.valDir, name);
    } catch (error) {
      throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
    }
    // The run continues from its checkpoint only if this very job started it (not a stale folder).
    const layout = runDirLayout(outDir);
    const marker = join(dirname(outDir), MARKERS, `${basename(outDir)}.json`);
    const mine = existsSync(marker) && JSON.parse(await readFile(marker, 'utf8')).jobId === job.id;
    const resume = mine && existsSync(layout.config);
    await mkdir(dirname(marker), { recursive: true });
    if (!mine) await writeFile(marker, JSON.stringify({ comparisonId: data.comparisonId, jobId: job.id }) + '\n');
    // The queue gave this job to this worker: whoever held the run before lost its queue lock and stops
    // (see the lock watchdog below), so its run lock, which another host cannot check, is taken over.
    const holder = resume ? await readRunLock(outDir) : undefined;
    if (holder) {
      await rm(join(outDir, LOCK_FILE), { force: true });
      log(`${tag} took the run over from ${holder.hostname} (process ${holder.pid}), which lost the job`);
    }
    log(`${tag} ${resume ? 'resuming' : 'training'} in ${outDir}`);

    const progress = new RunProgressTracker(name);
    const publish = (value: RunProgress | undefined) => value && void job.updateProgress(value).catch(() => undefined);
    const child = pool.run(
      {
        run: { label: data.label, backbone: data.backbone, settings: data.settings },
        // The submitter's feature-store path means nothing here: the worker's (shared) one replaces it.
        train: {
          ...data.train,
          dataDir,
          valDir,
          weights,
          outDir,
          featureStore: data.train.featureStore === false ? false : (options.featureStore ?? join(options.runsRoot, '.tlkit-cache')),
          featureIdentity: data.train.featureIdentity ?? 'content',
        },
        resume,
        evaluationDir: valDir ?? dataDir,
        runsRoot: options.runsRoot,
      },
      {
        onLog: (m) => log(`${tag} ${m}`),
        onResume: (from) => publish(progress.resumed(from)),
        onProgress: (event) => publish(progress.update(event)),
      },
    );
    const entry = { kill: () => child.kill(), lostLock: false, renewedAt: Date.now() };
    children.set(job.id!, entry);
    let cancelled = false;
    const watch = setInterval(() => {
      void isCancelled(data.comparisonId).then((c) => {
        if (c && !cancelled) {
          cancelled = true;
          log(`${tag} cancelled: stopping the run`);
          child.kill();
        }
      }, () => undefined);
    }, 1000);
    try {
      const row = await child.done;
      log(`${tag} done`);
      return { row: row as CompareRow, ...(progress.resumedFrom ? { resumedFrom: progress.resumedFrom } : {}), worker: name };
    } catch (error) {
      if (entry.lostLock) throw new Error('this worker lost the job\'s lock (Redis away too long?); another worker takes the run over from its checkpoint');
      const message = cancelled ? 'cancelled' : error instanceof Error ? error.message : String(error);
      log(`${tag} failed: ${message}`);
      throw new UnrecoverableError(message);
    } finally {
      clearInterval(watch);
      children.delete(job.id!);
    }
  }

  async function writeReport(job: Job<ComparisonJobData>): Promise<ComparisonJobResult> {
    const data = job.data;
    if (await isCancelled(data.comparisonId)) throw new UnrecoverableError('cancelled');
    const values = await job.getChildrenValues<RunJobResult>();
    const failures = await job.getIgnoredChildrenFailures();
    const byJob = new Map<string, { value?: RunJobResult; failure?: string }>();
    for (const [key, value] of Object.entries(values)) byJob.set(key.split(':').at(-1)!, { value });
    for (const [key, failure] of Object.entries(failures)) byJob.set(key.split(':').at(-1)!, { failure });
    const rows: CompareRow[] = data.runs.map((run) => {
      const identity = { id: run.label, backbone: run.backbone, settings: run.settings };
      if (run.skipped) return { ok: false, ...identity, error: run.skipped };
      const outcome = run.jobId ? byJob.get(run.jobId) : undefined;
      if (outcome?.value) return outcome.value.row;
      return { ok: false, ...identity, error: outcome?.failure ?? 'the run ended without a result' };
    });
    let plan: Omit<ComparisonPlan, 'runs'> & { runs: { label: string; settings: Record<string, string> }[] };
    try {
      plan = {
        options: {
          ...data.options,
          dataDir: resolveUnderRoot(options.dataRoot, data.paths.dataDir, 'dataDir'),
          ...(data.paths.valDir !== undefined ? { valDir: resolveUnderRoot(options.dataRoot, data.paths.valDir, 'valDir') } : {}),
          outDir: resolveUnderRoot(options.runsRoot, data.outDir, 'outDir'),
        },
        rule: data.rule,
        seed: data.seed,
        startedAt: data.startedAt,
        runs: data.runs,
      };
    } catch (error) {
      throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
    }
    const result = finishComparison(plan, rows, (Date.now() - Date.parse(data.startedAt)) / 1000);
    const files = await writeCompareReport(result);
    log(`[${data.comparisonId}] report written: ${files.html}`);
    const rel = (p: string) => relative(options.runsRoot, p);
    return { result, files: { html: rel(files.html), markdown: rel(files.markdown), json: rel(files.json) } };
  }

  const runs = new Worker<RunJobData, RunJobResult>(RUNS_QUEUE, trainRunJob, { ...common, concurrency });
  const comparisons = new Worker<ComparisonJobData, ComparisonJobResult>(COMPARISONS_QUEUE, writeReport, { ...common, concurrency: 1 });
  for (const w of [runs, comparisons]) w.on('error', (error) => log(`queue: ${error.message}`));
  // A run whose lock could not be renewed may already be someone else's: stop training it here, or two
  // processes would write one run directory.
  const loseLock = (id: string, why: string) => {
    const entry = children.get(id);
    if (!entry || entry.lostLock) return;
    log(`[${id}] ${why}: stopping the run here`);
    entry.lostLock = true;
    entry.kill();
  };
  runs.on('lockRenewalFailed', (jobIds: string[]) => jobIds.forEach((id) => loseLock(id, 'lost its lock')));
  runs.on('locksRenewed', ({ jobIds }: { jobIds: string[] }) => jobIds.forEach((id) => children.get(id) && (children.get(id)!.renewedAt = Date.now())));
  // Cut off from Redis, renewals neither succeed nor fail: past the lock's life the job may be another
  // worker's already, so the run stops here too.
  const watchdog = setInterval(() => {
    for (const [id, entry] of children) if (Date.now() - entry.renewedAt > lockDuration) loseLock(id, 'could not renew its lock in time');
  }, 1000);
  watchdog.unref();
  await Promise.all([runs.waitUntilReady(), comparisons.waitUntilReady()]);
  log(`worker ${name} ready (concurrency ${concurrency}${options.threads ? `, ${options.threads} threads per run` : ''})`);
  return {
    name,
    async close(force = false) {
      clearInterval(watchdog);
      if (force) for (const child of children.values()) child.kill();
      await Promise.all([runs.close(force), comparisons.close(force)]);
      pool.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
