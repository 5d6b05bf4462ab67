#!/usr/bin/python3
"""Damages a safetensors file the ways the hf_cli test needs (standard library only).

    hf_mutate.py FILE lie-offsets TENSOR   # the tensor's data_offsets point past the file's end
    hf_mutate.py FILE shape TENSOR         # the tensor loses its last row (shape and data agree)
    hf_mutate.py FILE f64 TENSOR           # the tensor stored as F64, a dtype weights are not read from
    hf_mutate.py CONFIG set KEY VALUE      # config.json's KEY set to the JSON VALUE
"""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    tensors = []
    for name, e in header.items():
        if name != "__metadata__":
            begin, end = e["data_offsets"]
            tensors.append([name, e["dtype"], e["shape"], data[begin:end]])
    tensors.sort(key=lambda t: header[t[0]]["data_offsets"][0])
    return header.get("__metadata__"), tensors


def write(path, metadata, tensors, lie=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if lie:
        header[lie]["data_offsets"] = [len(data) + 64, len(data) + 64 + len(dict((t[0], t[3]) for t in tensors)[lie])]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def main():
    path, mode, target = sys.argv[1:4]
    if mode == "set":
        with open(path) as f:
            config = json.load(f)
        config[target] = json.loads(sys.argv[4])
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        return
    metadata, tensors = read(path)
    entry = next(t for t in tensors if t[0] == target)
    if mode == "shape":
        rows, cols = entry[2]
        entry[2] = [rows - 1, cols]
        entry[3] = entry[3][:(rows - 1) * cols * 4]
    elif mode == "f64":
        values = struct.unpack(f"<{len(entry[3]) // 4}f", entry[3])
        entry[1], entry[3] = "F64", struct.pack(f"<{len(values)}d", *values)
    write(path, metadata, tensors, lie=target if mode == "lie-offsets" else None)


if __name__ == "__main__":
    main()
