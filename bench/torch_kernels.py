#!/usr/bin/env python3
"""PyTorch reference timings for the shapes of bench/kernels.ts, on the same card.

fp16 matmul (torch.nn.functional.linear, i.e. x @ w.T through cuBLAS), fp16 SDPA
(torch.nn.functional.scaled_dot_product_attention, non-causal) and fp16 2-D convolution
(torch.nn.functional.conv2d on channels_last tensors through cuDNN, for bench/conv.ts), random normal
inputs, median of CUDA-event timings after warm-up.

  python3 bench/torch_kernels.py            # times the default shapes and prints a table
  python3 bench/torch_kernels.py --serve    # line protocol used by bench/kernels.ts: one JSON request
                                            # per line on stdin, one JSON reply per line on stdout
"""
import json
import statistics
import sys

import torch
import torch.nn.functional as F

_cache = {"key": None, "tensors": None}


def _tensors(key, make):
    # Only the current shape's tensors stay alive (the largest matmul inputs are ~0.5 GB).
    if _cache["key"] != key:
        _cache["tensors"] = None
        torch.cuda.empty_cache()
        _cache["tensors"] = make()
        _cache["key"] = key
    return _cache["tensors"]


def time_ms(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def matmul(M, N, K, iters=10, warmup=3, **_):
    def make():
        g = torch.Generator(device="cuda").manual_seed(1)
        x = torch.randn(M, K, device="cuda", dtype=torch.float16, generator=g)
        w = torch.randn(N, K, device="cuda", dtype=torch.float16, generator=g) / K**0.5
        return x, w

    x, w = _tensors(("mm", M, N, K), make)
    return time_ms(lambda: F.linear(x, w), iters, warmup)


def sdpa(B, H, L, D, Lk=None, iters=10, warmup=3, **_):
    Lk = Lk or L

    def make():
        g = torch.Generator(device="cuda").manual_seed(2)
        q = torch.randn(B, H, L, D, device="cuda", dtype=torch.float16, generator=g)
        k = torch.randn(B, H, Lk, D, device="cuda", dtype=torch.float16, generator=g)
        v = torch.randn(B, H, Lk, D, device="cuda", dtype=torch.float16, generator=g)
        return q, k, v

    q, k, v = _tensors(("sdpa", B, H, L, Lk, D), make)
    return time_ms(lambda: F.scaled_dot_product_attention(q, k, v), iters, warmup)


def conv2d(B, Cin, Cout, H, W, K, stride=1, padding=None, iters=10, warmup=3, **_):
    """H, W: the input the convolution reads (for a fused-upsample shape of ours: the upsampled input,
    which PyTorch materialises with F.interpolate before the conv; only the conv is timed)."""
    pad = (K - 1) // 2 if padding is None else padding

    def make():
        g = torch.Generator(device="cuda").manual_seed(3)
        x = torch.randn(B, Cin, H, W, device="cuda", dtype=torch.float16, generator=g)
        w = torch.randn(Cout, Cin, K, K, device="cuda", dtype=torch.float16, generator=g) / (Cin * K * K) ** 0.5
        return x.to(memory_format=torch.channels_last), w.to(memory_format=torch.channels_last)

    x, w = _tensors(("conv2d", B, Cin, Cout, H, W, K), make)
    return time_ms(lambda: F.conv2d(x, w, stride=stride, padding=pad), iters, warmup)


OPS = {"matmul": matmul, "sdpa": sdpa, "conv2d": conv2d}


def serve():
    # cuDNN picks its fastest algorithm per shape on first use (what a tuned PyTorch deployment does).
    torch.backends.cudnn.benchmark = True
    hello = {
        "ready": True,
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        if req.get("op") == "quit":
            break
        try:
            ms = OPS[req["op"]](**req)
            print(json.dumps({"ms": ms}), flush=True)
        except Exception as e:  # the caller prints the error next to the shape
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


def main():
    if "--serve" in sys.argv:
        serve()
        return
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    for M, K, N in [(4608, 3072, 9216), (4608, 3072, 12288), (4608, 12288, 3072), (16896, 3072, 12288)]:
        ms = statistics.median(matmul(M, N, K, iters=20))
        print(f"matmul M={M} K={K} N={N}: {ms:.3f} ms, {2 * M * N * K / ms / 1e9:.0f} TFLOP/s")
    for L in [4608, 16896]:
        ms = statistics.median(sdpa(1, 24, L, 128, iters=20))
        print(f"sdpa 24x{L}x128: {ms:.3f} ms, {4 * 24 * L * L * 128 / ms / 1e9:.0f} TFLOP/s")


if __name__ == "__main__":
    main()
