// `toma quantize`: converts a checkpoint (safetensors file, index or folder; or a GGUF file) to a GGUF
// file in one ggml type, in the layout the community's FLUX.1 files use, so the result loads here
// (`toma forward|generate --checkpoint OUT.gguf`) and in other GGUF readers.
import { basename } from 'node:path';
import { validateOutput } from '../../io/output.js';
import { openWeightFile } from '../../io/weight-file.js';
import { detectFamily, familyName } from '../../models/detect.js';
import { isIoKey } from '../../models/weights.js';
import { CONVERT_TYPES, type ConvertType, convertToGguf } from '../../quant/convert.js';
import { type Command, choice, parse, required, UsageError } from '../args.js';
import { ProgressBar } from '../progress.js';

const usage = `usage: toma quantize --input CHECKPOINT --out OUT.gguf [--type TYPE] [--arch NAME] [--name NAME]

Converts every tensor of a checkpoint to GGUF (version 3), one tensor at a time, written atomically:
2-D weights whose rows are whole blocks are stored in TYPE, 1-D tensors (biases, norm scales) and tensors
of at most 1024 values in F32. Rows that are not whole 256-value blocks take a K type's 32-value
fallback as llama.cpp does (Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, Q2_K/Q3_K→Q4_0); rows that are not whole
32-value blocks stay F16. Names are kept, so a FLUX.1 release checkpoint (flux1-dev.safetensors) becomes
a file like the community's conversions.

  --input   .safetensors, *.safetensors.index.json, a folder with one of them, or a .gguf file
  --out     the GGUF file to write (refused if it is the input)
  --type    ${CONVERT_TYPES.join(', ')} (default Q8_0)
  --arch    general.architecture (default: detected from the keys; "flux" for a FLUX.1 transformer)
  --name    general.name (default: none)`;

export const quantize: Command = {
  name: 'quantize',
  summary: 'convert a checkpoint to GGUF (Q8_0, Q4_K, ... ; safetensors or GGUF in)',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        input: { type: 'string' },
        out: { type: 'string' },
        type: { type: 'string' },
        arch: { type: 'string' },
        name: { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const input = required(values.input, 'input', usage);
    const out = required(values.out, 'out', usage);
    const type = choice(values.type?.toUpperCase(), CONVERT_TYPES, 'type', 'Q8_0') as ConvertType;
    if (values.arch !== undefined && !/^[a-z0-9_.-]{1,64}$/i.test(values.arch))
      throw new UsageError(`--arch must be 1-64 letters, digits, '_', '.' or '-'; got "${values.arch}"`);
    validateOutput(out, [input]);
    const ck = openWeightFile(input);
    try {
      const keys = ck.keys().filter((k) => !isIoKey(k));
      if (keys.length === 0) throw new Error(`${input}: holds no tensors to convert`);
      const { family } = detectFamily(keys);
      const architecture = values.arch ?? (family === 'unknown' ? 'unknown' : family);
      console.log(
        `${basename(input)}: ${keys.length} tensors, ${family === 'unknown' ? 'no known model' : familyName(family)} → ${type} (general.architecture "${architecture}")`,
      );
      const bar = new ProgressBar('quantize');
      const t0 = performance.now();
      const s = convertToGguf(ck, out, {
        type,
        architecture,
        name: values.name,
        skip: isIoKey,
        onTensor: (_k, done, total) => bar.update(done, total),
      });
      bar.done();
      const types = [...s.types].map(([t, n]) => `${n} ${t}`).join(', ');
      console.log(
        `wrote ${out}: ${s.tensors} tensors (${types}), ${(s.bytes / 2 ** 20).toFixed(1)} MiB of tensor data, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      return 0;
    } finally {
      ck.close();
    }
  },
};
