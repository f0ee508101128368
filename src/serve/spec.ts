// What a client may ask of `toma serve`: the request body of POST /v1/images/generations (OpenAI's
// fields plus this project's), its JSON schema with a bound on every field, and the job spec a worker
// runs. The schema rejects anything unknown or out of range before a job exists; the few rules a schema
// cannot say (size sides, the cache spec's grammar) are checked in toJobSpec.

import { METHODS, type MethodName, parseMethodConfig } from '../index.js';
import { MAX_IMAGE_PIXELS, MAX_STEPS } from '../models/limits.js';

/** The server's bounds (toma serve's options; each at most the engine's own limit). */
export interface ServeLimits {
  /** Largest image side in pixels (a multiple of 16). */
  maxSize: number;
  maxSteps: number;
  /** Images per request. */
  maxImages: number;
}

export const DEFAULT_LIMITS: ServeLimits = { maxSize: 1024, maxSteps: 50, maxImages: 4 };
/** A prompt (a class name for the embedded model) is short text. */
export const MAX_PROMPT_CHARS = 1000;
/** Request bodies are small JSON; anything larger is refused unread (413). */
export const BODY_LIMIT_BYTES = 16 * 1024;

export type ResponseFormat = 'url' | 'b64_json';

/** A job as queued: everything a worker needs, nothing else (it crosses Redis as JSON). */
export interface JobSpec {
  prompt: string;
  n: number;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  seed?: number;
  method?: MethodName;
  ratio?: number;
  /** A step-cache spec ('fora:2'), or null for none; absent: the pipeline's default. */
  cache?: string | null;
}

export interface GenerationRequest {
  prompt: string;
  n?: number;
  size?: string;
  response_format?: ResponseFormat;
  steps?: number;
  guidance?: number;
  seed?: number;
  method?: MethodName;
  ratio?: number;
  cache?: string | null;
  /** OpenAI clients send these; accepted and ignored (the server runs the model it was started with). */
  model?: string;
  user?: string;
  /** Answer 202 with the job at once instead of waiting for the images. */
  async?: boolean;
}

export function generationSchema(limits: ServeLimits) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['prompt'],
    properties: {
      prompt: { type: 'string', minLength: 1, maxLength: MAX_PROMPT_CHARS },
      n: { type: 'integer', minimum: 1, maximum: limits.maxImages },
      size: { type: 'string', pattern: '^[1-9][0-9]{0,3}x[1-9][0-9]{0,3}$' },
      response_format: { type: 'string', enum: ['url', 'b64_json'] },
      steps: { type: 'integer', minimum: 1, maximum: limits.maxSteps },
      guidance: { type: 'number', minimum: 0, maximum: 30 },
      seed: { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 },
      method: { type: 'string', enum: [...METHODS] },
      ratio: { type: 'number', minimum: 0, maximum: 0.95 },
      cache: { anyOf: [{ type: 'string', minLength: 1, maxLength: 64 }, { type: 'null' }] },
      model: { type: 'string', maxLength: 200 },
      user: { type: 'string', maxLength: 200 },
      async: { type: 'boolean' },
    },
  } as const;
}

/** A request the schema passed that breaks a rule the schema cannot express. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

/** The job for a schema-valid request, after the checks the schema leaves to code. */
export function toJobSpec(body: GenerationRequest, limits: ServeLimits): JobSpec {
  const spec: JobSpec = { prompt: body.prompt, n: body.n ?? 1 };
  if (body.size !== undefined) {
    const [w, h] = body.size.split('x').map(Number) as [number, number];
    for (const side of [w, h])
      if (side % 16 !== 0 || side < 16 || side > limits.maxSize)
        throw new RequestError(
          `size ${body.size}: each side must be a multiple of 16 in 16..${limits.maxSize}`,
          'size',
        );
    if (w * h > MAX_IMAGE_PIXELS)
      throw new RequestError(`size ${body.size}: at most ${MAX_IMAGE_PIXELS} pixels`, 'size');
    spec.width = w;
    spec.height = h;
  }
  if (body.steps !== undefined) spec.steps = Math.min(body.steps, MAX_STEPS);
  if (body.guidance !== undefined) spec.guidance = body.guidance;
  if (body.seed !== undefined) spec.seed = body.seed;
  if (body.method !== undefined) spec.method = body.method;
  if (body.ratio !== undefined) {
    if (body.method === 'dense' || body.method === 'hilbert' || body.method === 'todo')
      throw new RequestError(`ratio: ${body.method} takes no merge ratio`, 'ratio');
    spec.ratio = body.ratio;
  }
  if (body.cache !== undefined) {
    const cache = body.cache === null || body.cache === 'none' ? null : body.cache;
    if (cache !== null) {
      // the library's own grammar for a cache spec (its message names what is wrong)
      try {
        const parsed = parseMethodConfig(`dense+${cache}`);
        if (!parsed.cache) throw new RangeError(`cache "${cache}" names no step cache`);
      } catch (e) {
        throw new RequestError(`cache: ${(e as Error).message}`, 'cache');
      }
    }
    spec.cache = cache;
  }
  return spec;
}
