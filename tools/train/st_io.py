"""Minimal safetensors reading and writing with numpy (no dependency on the safetensors package).

Format: 8-byte little-endian header length, JSON header {name: {dtype, shape, data_offsets}, __metadata__:
{str: str}}, then the tensor bytes. The header is padded with spaces to a multiple of 8 bytes.
"""

import json
import os
import struct

import numpy as np

_DTYPES = {
    'F64': np.float64, 'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32,
    'I16': np.int16, 'I8': np.int8, 'U8': np.uint8, 'BOOL': np.bool_,
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def read_header(path):
    with open(path, 'rb') as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError(f'{path}: too short for a safetensors file')
        (n,) = struct.unpack('<Q', raw)
        header = json.loads(f.read(n))
    return header, 8 + n


def read(path):
    """(tensors: {name: np.ndarray}, metadata: {str: str}); BF16 is widened to f32."""
    header, start = read_header(path)
    meta = header.pop('__metadata__', {}) or {}
    out = {}
    with open(path, 'rb') as f:
        for name, info in header.items():
            a, b = info['data_offsets']
            f.seek(start + a)
            buf = f.read(b - a)
            if len(buf) != b - a:
                raise ValueError(f'{path}: truncated at tensor {name}')
            if info['dtype'] == 'BF16':
                u = np.frombuffer(buf, dtype=np.uint16).astype(np.uint32) << 16
                arr = u.view(np.float32)
            else:
                arr = np.frombuffer(buf, dtype=_DTYPES[info['dtype']])
            out[name] = arr.reshape(info['shape']).copy()
    return out, meta


def write(path, tensors, metadata=None):
    """tensors: {name: np.ndarray} (written in insertion order); metadata values must be strings.
    Written to a temporary file and renamed, so an interrupted write leaves the old file intact."""
    header = {}
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    arrays = []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype not in _NAMES:
            raise ValueError(f'{name}: unsupported dtype {arr.dtype}')
        header[name] = {'dtype': _NAMES[arr.dtype], 'shape': list(arr.shape), 'data_offsets': [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    blob = json.dumps(header, separators=(',', ':')).encode('utf-8')
    blob += b' ' * (-len(blob) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(blob)))
        f.write(blob)
        for arr in arrays:
            f.write(arr.tobytes())
    os.replace(tmp, path)
