// Entry of a data worker thread: runs SampleJobs and sends the pixels back without copying.
import { parentPort } from 'node:worker_threads';
import { runSampleJob, type SampleJob } from './sample_job.js';

parentPort?.on('message', async (msg: { id: number; job: SampleJob }) => {
  const result = await runSampleJob(msg.job);
  const transfer = result.ok ? [result.data.buffer as ArrayBuffer, ...(result.decoded ? [result.decoded.buffer as ArrayBuffer] : [])] : [];
  parentPort!.postMessage({ id: msg.id, result }, transfer);
});
