#!/usr/bin/env python3
"""Cross-checks `toma forward` on GGUF files made by an independent tool (llama.cpp's gguf-py).

For each ggml type, gguf-py writes a tiny FLUX.1 transformer (random weights, original key names, arch
`flux`): Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 quantized by gguf-py's own quantizers, the K-quants as random valid
blocks (gguf-py cannot quantize K types); 1-D tensors in F32, matrices whose rows are not whole blocks
in F16. gguf-py then dequantizes the same file to f32 safetensors. `toma forward --dtype f32` runs on
both; the relative error of the GGUF run against the dequantized run is printed (target <= 1e-5).

Needs numpy and gguf-py (pip install gguf==0.19.0, or the wheel) and a built checkout (npm run build).

  python3 tools/gguf-crosscheck.py [--backend cpu|webgpu] [--types Q8_0,Q4_K,...] [--keep DIR] [--json FILE]
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as Q
    from gguf import quants
except ImportError:
    sys.exit("gguf-crosscheck: needs gguf-py (pip install gguf==0.19.0)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
NUMPY_QUANTIZABLE = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"}

# A FLUX.1-shaped transformer small enough for the CPU, wide enough (256) for 256-element K blocks.
CONFIG = dict(in_channels=16, out_channels=16, vec_in_dim=32, context_in_dim=256, hidden_size=256,
              mlp_ratio=4.0, num_heads=2, depth=1, depth_single_blocks=1, axes_dim=[16, 56, 56],
              theta=10000, qkv_bias=True, guidance_embed=True)


def flux_shapes(c):
    H, M = c["hidden_size"], int(c["hidden_size"] * c["mlp_ratio"])
    D = H // c["num_heads"]
    s = {}

    def lin(name, out, inp):
        s[f"{name}.weight"] = (out, inp)
        s[f"{name}.bias"] = (out,)

    lin("img_in", H, c["in_channels"])
    for e, inp in (("time_in", 256), ("vector_in", c["vec_in_dim"]), ("guidance_in", 256)):
        lin(f"{e}.in_layer", H, inp)
        lin(f"{e}.out_layer", H, H)
    lin("txt_in", H, c["context_in_dim"])
    for i in range(c["depth"]):
        for p in ("img", "txt"):
            b = f"double_blocks.{i}.{p}"
            lin(f"{b}_mod.lin", 6 * H, H)
            lin(f"{b}_attn.qkv", 3 * H, H)
            s[f"{b}_attn.norm.query_norm.scale"] = (D,)
            s[f"{b}_attn.norm.key_norm.scale"] = (D,)
            lin(f"{b}_attn.proj", H, H)
            lin(f"{b}_mlp.0", M, H)
            lin(f"{b}_mlp.2", H, M)
    for i in range(c["depth_single_blocks"]):
        b = f"single_blocks.{i}"
        lin(f"{b}.linear1", 3 * H + M, H)
        lin(f"{b}.linear2", H, H + M)
        s[f"{b}.norm.query_norm.scale"] = (D,)
        s[f"{b}.norm.key_norm.scale"] = (D,)
        lin(f"{b}.modulation.lin", 3 * H, H)
    lin("final_layer.linear", c["out_channels"], H)
    lin("final_layer.adaLN_modulation.1", 2 * H, H)
    return s


def random_weights(rng):
    out = {}
    for k, shape in flux_shapes(CONFIG).items():
        if k.endswith(".scale"):
            out[k] = (1 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        elif len(shape) == 1:
            out[k] = (0.02 * rng.standard_normal(shape)).astype(np.float32)
        else:
            out[k] = (rng.standard_normal(shape) / np.sqrt(shape[1])).astype(np.float32)
    return out


def inputs(rng):
    gh, gw, lt = 8, 8, 5
    ids = np.zeros((1, gh * gw, 3), np.float32)
    ids[0, :, 1] = np.repeat(np.arange(gh), gw)
    ids[0, :, 2] = np.tile(np.arange(gw), gh)
    return {
        "in.img": rng.standard_normal((1, gh * gw, 16)).astype(np.float32),
        "in.txt": rng.standard_normal((1, lt, CONFIG["context_in_dim"])).astype(np.float32),
        "in.img_ids": ids,
        "in.txt_ids": np.zeros((1, lt, 3), np.float32),
        "in.y": rng.standard_normal((1, 32)).astype(np.float32),
        "in.timesteps": np.array([0.6], np.float32),
        "in.guidance": np.array([3.5], np.float32),
    }


def random_kquant_rows(rng, qtype, rows, cols):
    """Random valid blocks whose f16 scales keep values near unit size (gguf-py cannot quantize K types)."""
    block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block
    b = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    d = np.array([2.0 ** -9], dtype=np.float16).view(np.uint8)
    # the f16 super-block scale(s): d (and dmin) sit at the end for Q2_K/Q3_K/Q6_K, at the start for Q4_K/Q5_K
    if qtype in (Q.Q4_K, Q.Q5_K):
        b[:, 0:2] = d
        b[:, 2:4] = d
    elif qtype == Q.Q2_K:
        b[:, -4:-2] = d
        b[:, -2:] = d
    else:
        b[:, -2:] = d
    return b.reshape(rows, -1)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k], dtype=np.float32)
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=np.float32).reshape(v["shape"])
    return out


def make_gguf(path, weights, type_name, rng):
    qtype = Q[type_name]
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    w = gguf.GGUFWriter(path, "flux")
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for k, a in weights.items():
        if a.ndim == 2 and a.shape[1] % block == 0:
            if type_name in NUMPY_QUANTIZABLE:
                data = quants.quantize(a, qtype)
            else:
                data = random_kquant_rows(rng, qtype, a.shape[0], a.shape[1])
            w.add_tensor(k, data, raw_shape=data.shape, raw_dtype=qtype)
        elif a.ndim == 2:
            w.add_tensor(k, a.astype(np.float16))
        else:
            w.add_tensor(k, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def dequantized(path):
    r = gguf.GGUFReader(path)
    out = {}
    for t in r.tensors:
        shape = [int(d) for d in reversed(t.shape)]
        out[t.name] = quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
    return out


def forward(checkpoint, inputs_path, out, backend):
    cmd = ["node", os.path.join(ROOT, "dist/src/cli/main.js"), "forward", "--checkpoint", checkpoint,
           "--inputs", inputs_path, "--out", out, "--dtype", "f32", "--backend", backend,
           "--config", json.dumps(CONFIG)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"toma forward failed ({p.returncode}): {p.stderr.strip()}")
    return read_safetensors(out)["out"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="cpu", choices=["cpu", "webgpu"])
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--keep", help="keep the generated files in this folder")
    ap.add_argument("--json", help="also write the results as JSON")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    types = a.types.split(",")
    for t in types:
        if t not in TYPES:
            ap.error(f"--types: unknown type {t!r} (known: {', '.join(TYPES)})")
    rng = np.random.default_rng(a.seed)
    weights = random_weights(rng)
    ins = inputs(rng)
    work = a.keep or tempfile.mkdtemp(prefix="gguf-crosscheck-")
    os.makedirs(work, exist_ok=True)
    inputs_path = os.path.join(work, "inputs.safetensors")
    write_safetensors(inputs_path, ins)
    results = []
    print(f"{'type':6} {'quantized':>9} {'rel. error':>11}  (gguf-py {gguf.__name__} file vs its f32 dequantization, {a.backend})")
    for t in types:
        g = os.path.join(work, f"flux-{t}.gguf")
        make_gguf(g, weights, t, rng)
        deq = dequantized(g)
        d = os.path.join(work, f"flux-{t}-dequant.safetensors")
        write_safetensors(d, deq)
        yq = forward(g, inputs_path, os.path.join(work, f"out-{t}.safetensors"), a.backend)
        yd = forward(d, inputs_path, os.path.join(work, f"out-{t}-dequant.safetensors"), a.backend)
        rel = float(np.linalg.norm(yq - yd) / np.linalg.norm(yd))
        nq = sum(1 for tt in gguf.GGUFReader(g).tensors if tt.tensor_type == Q[t])
        results.append({"type": t, "quantized_tensors": nq, "relative_error": rel, "backend": a.backend})
        print(f"{t:6} {nq:9d} {rel:11.3e}{'' if rel <= 1e-5 else '  FAIL (> 1e-5)'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if not a.keep:
        for n in os.listdir(work):
            os.remove(os.path.join(work, n))
        os.rmdir(work)
    sys.exit(0 if all(r["relative_error"] <= 1e-5 for r in results) else 1)


if __name__ == "__main__":
    main()
