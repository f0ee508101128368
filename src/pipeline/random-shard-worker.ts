// Worker thread entry for writing random-weight shards in parallel: receives jobs, reports bytes.
import { parentPort } from 'node:worker_threads';
import { type ShardJob, writeShard } from './random-shard.js';

parentPort!.on('message', async (job: ShardJob | null) => {
  if (job === null) {
    parentPort!.close();
    return;
  }
  try {
    let last = 0;
    const bytes = await writeShard(job, (written) => {
      parentPort!.postMessage({ type: 'bytes', delta: written - last });
      last = written;
    });
    parentPort!.postMessage({ type: 'done', bytes });
  } catch (e) {
    parentPort!.postMessage({ type: 'error', message: (e as Error).message });
  }
});
