// `toma forward`: runs one forward pass of a model component on inputs from a safetensors file and
// writes the outputs to another (atomically).
import { createBackend } from '../../backends.js';
import { validateOutput } from '../../io/output.js';
import { Checkpoint, writeSafetensors } from '../../io/safetensors.js';
import { countNonFinite, describeNonFinite, firstNonFinite } from '../../util/finite.js';
import { byteSize, type Command, choice, parse, required, UsageError } from '../args.js';
import { cancellable } from '../cancel.js';
import { finiteInputs } from '../components/inputs.js';
import { components } from '../components/registry.js';
import { GPU_OPTIONS, GPU_USAGE, gpuOptions } from '../gpu-options.js';

const usage = `usage: toma forward --checkpoint FILE --inputs FILE --out FILE [--component NAME]
                    [--backend webgpu|cpu] [--dtype f32|f16] [--config PRESET-or-JSON] [--allow-nonfinite]
                    [--max-memory SIZE] [--robust] [--guard]

Runs one forward pass of a model component and writes its outputs (f32) to --out.
  --checkpoint  weights: .safetensors, *.safetensors.index.json (sharded), .gguf (flux: matrices stay
                quantized on the device) or a folder with one of them
  --inputs      a safetensors file with the component's inputs (keys below)
  --component   which model (default flux)
  --config      a preset name or a JSON config; default: the checkpoint's __metadata__.config, else
                inferred from the tensor shapes
  --dtype       compute dtype (default f32; f16 needs an adapter with shader-f16)
  --allow-nonfinite  write the outputs even if they hold NaN or Infinity (else: exit 1, nothing written)
  --max-memory  device memory the run may take (e.g. 6GiB, 6000MB); flux keeps only the transformer
                blocks that fit resident and streams the rest from host memory before each use
                (docs/memory-plan.md). Peak device memory is printed per stage (load, forward).
Inputs must be finite (a NaN or Infinity is refused, naming the tensor and index). The run's memory is
estimated before loading (weights + activations) and refused if it exceeds the machine's.
${GPU_USAGE}

components:
${components
  .map(
    (c) =>
      `  ${c.name.padEnd(8)} ${c.summary}\n           inputs: ${c.inputKeys.join(' ')} ('?': optional)\n           outputs: ${c.outputKeys.join(' ')}`,
  )
  .join('\n')}`;

export const forward: Command = {
  name: 'forward',
  summary: 'run one model forward pass on inputs from a safetensors file',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        checkpoint: { type: 'string' },
        inputs: { type: 'string' },
        out: { type: 'string' },
        component: { type: 'string' },
        backend: { type: 'string' },
        dtype: { type: 'string' },
        config: { type: 'string' },
        'allow-nonfinite': { type: 'boolean' },
        'max-memory': { type: 'string' },
        ...GPU_OPTIONS,
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const checkpoint = required(values.checkpoint, 'checkpoint', usage);
    const inputsPath = required(values.inputs, 'inputs', usage);
    const outPath = required(values.out, 'out', usage);
    const name = values.component ?? 'flux';
    const component = components.find((c) => c.name === name);
    if (!component)
      throw new UsageError(
        `--component must be one of ${components.map((c) => c.name).join(', ')}; got "${name}"`,
      );
    const backend = choice(values.backend, ['webgpu', 'cpu'] as const, 'backend', 'webgpu');
    const dtype = choice(values.dtype, ['f32', 'f16'] as const, 'dtype', 'f32');
    const maxMemory = byteSize(values['max-memory'], 'max-memory');
    validateOutput(outPath, [checkpoint, inputsPath, ...(values.config ? [values.config] : [])]);
    const inputs = Checkpoint.open(inputsPath);
    const be = cancellable(await createBackend(backend, gpuOptions(values)));
    try {
      console.log(`backend: ${be.info().description}`);
      const outputs = await component.run({
        be,
        dtype,
        checkpoint,
        inputs: finiteInputs(inputs),
        config: values.config,
        maxMemory,
        log: (line) => console.log(line),
      });
      checkOutputsFinite(outputs, !!values['allow-nonfinite'], dtype === 'f16', (line) =>
        console.error(line),
      );
      writeSafetensors(outPath, outputs, { component: component.name, dtype });
      for (const [k, t] of Object.entries(outputs)) {
        const d = t.data as Float32Array;
        let sum = 0;
        let sq = 0;
        let max = 0;
        for (const v of d) {
          sum += v;
          sq += v * v;
          max = Math.max(max, Math.abs(v));
        }
        const mean = sum / d.length;
        console.log(
          `${k} [${t.shape.join(', ')}]: mean ${mean.toPrecision(4)}, std ${Math.sqrt(Math.max(0, sq / d.length - mean * mean)).toPrecision(4)}, |max| ${max.toPrecision(4)}`,
        );
      }
      console.log(`wrote ${outPath}`);
      return 0;
    } finally {
      inputs.close();
      be.destroy();
    }
  },
};

/**
 * A non-finite output means the run failed numerically (f16 overflow, bad weights): an error before
 * anything is written, unless --allow-nonfinite, where it is a warning and the file is written.
 */
function checkOutputsFinite(
  outputs: Record<string, { shape: number[]; data: unknown }>,
  allow: boolean,
  f16: boolean,
  warn: (line: string) => void,
): void {
  for (const [k, t] of Object.entries(outputs)) {
    const d = t.data as Float32Array;
    const i = firstNonFinite(d);
    if (i < 0) continue;
    const what = `output "${k}" has ${countNonFinite(d)} non-finite value(s) of ${d.length}, the first ${describeNonFinite(d[i]!, i, t.shape)}`;
    if (!allow)
      throw new Error(
        `${what}; nothing written (--allow-nonfinite writes it anyway${f16 ? '; --dtype f32 avoids f16 overflow' : ''})`,
      );
    warn(`warning: ${what}`);
  }
}
