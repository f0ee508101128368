// Hugging Face repo ids for the pipeline: resolved into the local Hugging Face cache (src/hub).
import type { LoadOptions } from './pipeline.js';

export async function resolveFluxRepo(id: string, _o: LoadOptions): Promise<string> {
  throw new Error(`${id}: downloading from the Hugging Face hub is not wired in yet; give a local folder`);
}
