#!/usr/bin/env python3
"""Reference outputs of the SDXL VAE *encoder* for the tests (the shared fixture has none).

A plain-PyTorch VAE written from diffusers' AutoencoderKL structure (Encoder / Decoder, ResnetBlock2D,
single-head mid-block attention, Downsample2D = zero pad (0, 1, 0, 1) then a 3x3 stride-2 conv,
DiagonalGaussianDistribution's logvar clamp to [-30, 20]), run in float64 on the weights of
fixtures/sdxl/sdxl_vae_a.safetensors. The decoder half is checked first against the fixture's
out.sample (made by diffusers itself), which validates this re-implementation's shared parts; then the
encoder runs on seeded random images and the results are written to test/data/sdxl-vae-encoder-ref.safetensors.

Needs torch (CPU) and numpy. Safetensors are read and written by hand (no safetensors package).

  python3 tools/reference/sdxl-vae-encoder.py [FIXTURES_DIR] [OUT_FILE]
"""

import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../shared/fixtures")
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "../../test/data/sdxl-vae-encoder-ref.safetensors")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for k, v in header.items():
        assert v["dtype"] == "F32", (k, v["dtype"])
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()).reshape(v["shape"]).double()
    return out, meta


def write_safetensors(path, tensors, meta):
    header = {"__metadata__": meta}
    blobs = []
    at = 0
    for k in sorted(tensors):
        b = tensors[k].float().contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


W, META = read_safetensors(os.path.join(FIXTURES, "sdxl", "sdxl_vae_a.safetensors"))
CFG = json.loads(META["config"])
GROUPS = CFG["norm_num_groups"]
EPS = 1e-6


def conv(x, k, **kw):
    w = W[k + ".weight"]
    return F.conv2d(x, w, W[k + ".bias"], padding=kw.get("padding", w.shape[-1] // 2), stride=kw.get("stride", 1))


def norm(x, k):
    return F.group_norm(x, GROUPS, W[k + ".weight"], W[k + ".bias"], EPS)


def resnet(x, k):
    h = conv(F.silu(norm(x, k + ".norm1")), k + ".conv1")
    h = conv(F.silu(norm(h, k + ".norm2")), k + ".conv2")
    if k + ".conv_shortcut.weight" in W:
        x = conv(x, k + ".conv_shortcut", padding=0)
    return x + h


def attention(x, k):
    B, C, H, Wd = x.shape
    h = norm(x, k + ".group_norm").reshape(B, C, H * Wd).transpose(1, 2)
    lin = lambda t, n: t @ W[f"{k}.{n}.weight"].T + W[f"{k}.{n}.bias"]
    q, kk, v = lin(h, "to_q"), lin(h, "to_k"), lin(h, "to_v")
    a = torch.softmax(q @ kk.transpose(1, 2) / C**0.5, dim=-1) @ v
    return x + lin(a, "to_out.0").transpose(1, 2).reshape(B, C, H, Wd)


def decode(z):
    x = conv(z, "post_quant_conv", padding=0)
    x = conv(x, "decoder.conv_in")
    x = resnet(x, "decoder.mid_block.resnets.0")
    x = attention(x, "decoder.mid_block.attentions.0")
    x = resnet(x, "decoder.mid_block.resnets.1")
    for i in range(len(CFG["block_out_channels"])):
        for j in range(CFG["layers_per_block"] + 1):
            x = resnet(x, f"decoder.up_blocks.{i}.resnets.{j}")
        if f"decoder.up_blocks.{i}.upsamplers.0.conv.weight" in W:
            x = conv(F.interpolate(x, scale_factor=2.0, mode="nearest"), f"decoder.up_blocks.{i}.upsamplers.0.conv")
    return conv(F.silu(norm(x, "decoder.conv_norm_out")), "decoder.conv_out")


def encode(img):
    x = conv(img, "encoder.conv_in")
    for i in range(len(CFG["block_out_channels"])):
        for j in range(CFG["layers_per_block"]):
            x = resnet(x, f"encoder.down_blocks.{i}.resnets.{j}")
        k = f"encoder.down_blocks.{i}.downsamplers.0.conv"
        if k + ".weight" in W:
            x = conv(F.pad(x, (0, 1, 0, 1)), k, padding=0, stride=2)
    x = resnet(x, "encoder.mid_block.resnets.0")
    x = attention(x, "encoder.mid_block.attentions.0")
    x = resnet(x, "encoder.mid_block.resnets.1")
    x = conv(F.silu(norm(x, "encoder.conv_norm_out")), "encoder.conv_out")
    moments = conv(x, "quant_conv", padding=0)
    mean, logvar = moments.chunk(2, dim=1)
    return mean, logvar.clamp(-30.0, 20.0)


with torch.no_grad():
    got = decode(W["in.z"])
    want = W["out.sample"]
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"decoder re-implementation vs diffusers' fixture: max relative error {err:.2e}")
    assert err < 1e-5, "the re-implementation does not match diffusers; its encoder is not a reference"

    torch.manual_seed(17)
    out = {}
    for name, shape in [("a", (1, 3, 16, 24)), ("b", (2, 3, 15, 22))]:
        img = torch.rand(shape, dtype=torch.float64) * 2 - 1
        mean, logvar = encode(img)
        out[f"in.sample_{name}"] = img
        out[f"out.mean_{name}"] = mean
        out[f"out.logvar_{name}"] = logvar
        print(f"{name}: image {list(shape)} -> mean {list(mean.shape)}")
    write_safetensors(OUT, out, {
        "about": "SDXL VAE encoder (AutoencoderKL.encode: latent_dist mean and clamped logvar) on the weights of "
                 "fixtures/sdxl/sdxl_vae_a.safetensors; plain-PyTorch float64 re-implementation "
                 "(tools/reference/sdxl-vae-encoder.py), its decoder half checked against the fixture",
        "torch": torch.__version__,
    })
    print("wrote", OUT)
