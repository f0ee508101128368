// The pretrained image networks that npm `nsfwjs` bundles (InceptionV3, MobileNetV2), loaded through
// @tensorflow/tfjs-core + tfjs-layers on the WebAssembly backend, cut at their pooled feature layer.
// nsfwjs ships each model as JavaScript modules (the Keras topology and base64 weight shards, weights
// quantised to 8 bits); we read those files directly, so nsfwjs's own entry point (which needs the whole
// @tensorflow/tfjs bundle) is never imported. These packages are optional (`npm run setup:eval`
// installs them): where they are missing the caller reports the deep-feature metrics as unavailable.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const FEATURE_NETS = ['inception', 'mobilenet'] as const;
export type FeatureNetName = (typeof FEATURE_NETS)[number];

/** Where each network lives in nsfwjs and which layer is the feature tap (global average pool, flattened). */
const SPECS: Record<FeatureNetName, { dir: string; label: string; tap: string }> = {
  inception: { dir: 'inception_v3', label: 'InceptionV3', tap: 'flatten_1' },
  mobilenet: { dir: 'mobilenet_v2', label: 'MobileNetV2', tap: 'flatten_1' },
};

export interface LoadedNetwork {
  /** e.g. "InceptionV3 pre-logits (nsfwjs 4.4.0, tfjs wasm)" */
  description: string;
  dim: number;
  inputSize: number;
  /** Features of B images (8-bit RGB, each w x h, concatenated): B x dim, row-major. */
  extract(pixels: Uint8Array, B: number, w: number, h: number): Promise<Float32Array>;
}

/** Thrown when the optional packages are missing or cannot run; the message says which and why. */
export class FeatureNetUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeatureNetUnavailable';
  }
}

const INSTALL =
  'npm run setup:eval (or: npm install --no-save nsfwjs@4.4.0 @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-layers@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0)';

// The parts of TensorFlow.js used here, typed locally: the packages are optional (npm run setup:eval),
// so the build must not need their type declarations.
interface TfTensor {
  data(): Promise<ArrayLike<number>>;
  dispose(): void;
}
interface TfCore {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tidy<T extends TfTensor>(fn: () => T): T;
  tensor4d(values: Float32Array, shape: [number, number, number, number]): TfTensor;
  image: { resizeBilinear(x: TfTensor, size: [number, number], alignCorners?: boolean): TfTensor };
}
/** A weight's entry in a weights manifest (passed through to tfjs as read). */
type WeightsManifestEntry = object;
interface TfLayersModel {
  inputs: { shape: (number | null)[] }[];
  layers: { name: string; output: unknown; outputShape: unknown }[];
  predict(x: TfTensor): TfTensor;
}
interface TfLayers {
  loadLayersModel(handler: {
    load(): Promise<{
      modelTopology: object;
      format?: string;
      weightSpecs: WeightsManifestEntry[];
      weightData: ArrayBuffer;
    }>;
  }): Promise<TfLayersModel>;
  model(args: { inputs: TfLayersModel['inputs']; outputs: unknown }): TfLayersModel;
}

/** Imports an optional package (a variable specifier: no type declarations needed at build time). */
const optional = (name: string): Promise<unknown> => import(name);

export async function loadNetwork(name: FeatureNetName): Promise<LoadedNetwork> {
  const spec = SPECS[name];
  if (!spec) throw new RangeError(`unknown feature network "${name}" (${FEATURE_NETS.join(', ')})`);
  let tf: TfCore;
  let tfl: TfLayers;
  let nsfwDist: string;
  const require = createRequire(import.meta.url);
  try {
    tf = (await optional('@tensorflow/tfjs-core')) as TfCore;
    tfl = (await optional('@tensorflow/tfjs-layers')) as TfLayers;
    await optional('@tensorflow/tfjs-backend-wasm');
    nsfwDist = dirname(dirname(require.resolve('nsfwjs')));
  } catch (e) {
    throw new FeatureNetUnavailable(
      `the ${spec.label} feature network needs the nsfwjs and TensorFlow.js packages (${(e as Error).message.split('\n')[0]}); install them with: ${INSTALL}`,
    );
  }
  if (!(await tf.setBackend('wasm')))
    throw new FeatureNetUnavailable('the TensorFlow.js wasm backend did not start');
  await tf.ready();
  const version = (
    JSON.parse(readFileSync(join(nsfwDist, '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
  const dir = join(nsfwDist, 'models', spec.dir);
  // The model files are CommonJS modules exporting the topology JSON and base64 weight shards.
  const json = require(join(dir, 'model.min.js')) as {
    modelTopology: object;
    format?: string;
    weightsManifest: {
      paths: string[];
      weights: WeightsManifestEntry[];
    }[];
  };
  const weightSpecs: WeightsManifestEntry[] = [];
  const parts: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths)
      parts.push(Buffer.from(require(join(dir, `${p}.min.js`)) as string, 'base64'));
    weightSpecs.push(...group.weights);
  }
  const all = Buffer.concat(parts);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const full = await tfl.loadLayersModel({
    load: async () => ({ modelTopology: json.modelTopology, format: json.format, weightSpecs, weightData }),
  });
  const tap = full.layers.find((l) => l.name === spec.tap);
  if (!tap) throw new FeatureNetUnavailable(`${spec.label} in nsfwjs ${version} has no layer "${spec.tap}"`);
  const model = tfl.model({
    inputs: full.inputs,
    outputs: tap.output,
  });
  const inputSize = full.inputs[0]!.shape[1]!;
  const dim = (tap.outputShape as number[])[1]!;

  return {
    description: `${spec.label} ${dim}-d pooled features (nsfwjs ${version}, TensorFlow.js wasm)`,
    dim,
    inputSize,
    async extract(pixels, B, w, h) {
      if (pixels.length !== B * w * h * 3)
        throw new RangeError(`extract: ${pixels.length} bytes for ${B} images of ${w}x${h} RGB`);
      // As nsfwjs feeds it: values / 255, bilinear resize with aligned corners to the input size.
      const scaled = new Float32Array(pixels.length);
      for (let i = 0; i < pixels.length; i++) scaled[i] = pixels[i]! / 255;
      const y = tf.tidy(() => {
        const x = tf.tensor4d(scaled, [B, h, w, 3]);
        const sized =
          w === inputSize && h === inputSize ? x : tf.image.resizeBilinear(x, [inputSize, inputSize], true);
        return model.predict(sized);
      });
      try {
        return (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
    },
  };
}
