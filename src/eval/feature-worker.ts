// One worker thread of the feature-network pool (feature-net.ts): loads the network once, then answers
// batches of images with their feature vectors. TensorFlow.js's wasm backend runs single-threaded in
// Node, so the pool runs one of these per core.
import { parentPort, workerData } from 'node:worker_threads';
import { type FeatureNetName, type LoadedNetwork, loadNetwork } from './nsfwjs-model.js';

export interface FeatureRequest {
  id: number;
  pixels: Uint8Array;
  count: number;
  width: number;
  height: number;
}

export type WorkerMessage =
  | { type: 'ready'; description: string; dim: number; inputSize: number }
  | { type: 'unavailable'; message: string }
  | { type: 'result'; id: number; features: Float32Array }
  | { type: 'error'; id: number; message: string };

const port = parentPort;
if (!port) throw new Error('feature-worker.js runs as a worker thread');
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

let net: LoadedNetwork | null = null;
try {
  net = await loadNetwork((workerData as { net: FeatureNetName }).net);
  post({ type: 'ready', description: net.description, dim: net.dim, inputSize: net.inputSize });
} catch (e) {
  post({ type: 'unavailable', message: (e as Error).message });
}

port.on('message', async (r: FeatureRequest) => {
  try {
    if (!net) throw new Error('the feature network did not load');
    const f = await net.extract(r.pixels, r.count, r.width, r.height);
    const features = f.slice();
    post({ type: 'result', id: r.id, features }, [features.buffer]);
  } catch (e) {
    post({ type: 'error', id: r.id, message: (e as Error).message });
  }
});
