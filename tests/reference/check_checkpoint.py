#!/usr/bin/python3
"""Checks that our checkpoint files are plain HDF5 that others can read, without our code.

Runs `MAKER write DIR/step_00000007.h5` (tests/reference/make_checkpoint.cpp, known content),
then with h5py checks every dataset (name, shape, float32 little-endian, contiguous, values) and
attribute (name, HDF5 type, value; strings read as str), recomputes the root "checksum" from the
documented byte stream (XXH64, written here in pure Python), checks `h5ls -r` lists the expected
layout, checks the seal (the first line of the 512-byte user block: "GPTCKPT1", XXH64 of the
bytes after the block, the file size), and finally edits copies with h5py and checks that
`MAKER verify` refuses each one: first by its seal, then, resealed here as if the edit had been
made before sealing, by the check that concerns the edit. A checkpoint written before the seal
existed (legacy_step_00000007.h5, the same content) must still verify.

Usage (as ctest runs it):
  /usr/bin/python3 tests/reference/check_checkpoint.py --maker PATH --workdir DIR

Exit codes: 0 all checks passed, 1 a check failed, 77 skipped (python3-h5py or hdf5-tools
missing, or the build has no HDF5).
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys

SKIP_CODE = 77

try:
    import h5py
    import numpy as np
except ImportError:
    print("SKIP: python3-h5py (and numpy) not installed; call this with /usr/bin/python3")
    sys.exit(SKIP_CODE)

H5LS = shutil.which("h5ls")
if H5LS is None:
    print("SKIP: h5ls not found (install hdf5-tools)")
    sys.exit(SKIP_CODE)

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}")


# ----------------------------------------------------------------- expectations (make_checkpoint.cpp)
def f32(values):
    return np.array(values, dtype=np.float32)


TENSORS = {
    "params/a": f32([0.5 * i for i in range(6)]).reshape(2, 3),
    "params/b": f32([-float(i) for i in range(4)]).reshape(4),  # -0.0 first, as in C++
    "params/h.0.attn.c_attn.weight": f32([i * i for i in range(12)]).reshape(1, 2, 2, 3),
    "optim/m/a": f32([100 + i for i in range(6)]).reshape(2, 3),
    "optim/v/c": f32([0.25 * i - 1 for i in range(24)]).reshape(2, 3, 4),
}
ATTRS = {  # group -> name -> value (int, float or str)
    "/": {
        "format_version": 1,
        "step": 7,
        "tokens_seen": 5000000000,
        "world_size": 2,
        "created": "2026-01-02T03:04:05Z",
        "config": '[model]\nn_layer = 2\nname = "tiny \u00fc"\n',
    },
    "/rng": {"seed": 1337, "state": "0 1 2 3"},
    "/data/rank0": {"position": 123456},
    "/optim": {"beta1": 0.9, "lr": 6e-4},
}
GROUPS = ["/", "/data", "/data/rank0", "/optim", "/optim/m", "/optim/v", "/params", "/rng"]


# ----------------------------------------------------------------- XXH64 and the checksum stream
M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                      0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def xxh_round(acc, lane):
    return (rotl((acc + lane * P2) & M64, 31) * P1) & M64


def xxh64(data, seed=0):
    n, p = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while p + 32 <= n:
            for i in range(4):
                v[i] = xxh_round(v[i], struct.unpack_from("<Q", data, p + 8 * i)[0])
            p += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M64
        for x in v:
            h = ((h ^ xxh_round(0, x)) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while p + 8 <= n:
        h = (rotl(h ^ xxh_round(0, struct.unpack_from("<Q", data, p)[0]), 27) * P1 + P4) & M64
        p += 8
    if p + 4 <= n:
        h = (rotl(h ^ (struct.unpack_from("<I", data, p)[0] * P1 & M64), 23) * P2 + P3) & M64
        p += 4
    while p < n:
        h = (rotl(h ^ (data[p] * P5 & M64), 11) * P1) & M64
        p += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    h ^= h >> 32
    return h


def checksum(tensors, attrs):
    """The byte stream documented in train/checkpoint/checkpoint_checksum.h."""
    def s(x):
        b = x.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    out = bytearray()
    for path in sorted(tensors, key=lambda p: p.encode("utf-8")):
        a = np.ascontiguousarray(tensors[path], dtype="<f4")
        out += b"T" + s(path) + struct.pack("<Q", a.ndim)
        out += b"".join(struct.pack("<q", d) for d in a.shape)
        out += struct.pack("<Q", a.nbytes) + a.tobytes()
    for group in sorted(attrs, key=lambda g: g.encode("utf-8")):
        for name in sorted(attrs[group], key=lambda n: n.encode("utf-8")):
            if group == "/" and name == "checksum":
                continue
            v = attrs[group][name]
            out += b"A" + s(group) + s(name)
            if isinstance(v, (int, np.integer)):
                out += b"i" + struct.pack("<q", int(v))
            elif isinstance(v, (float, np.floating)):
                out += b"d" + struct.pack("<d", float(v))
            else:
                out += b"s" + s(v)
    return f"{xxh64(bytes(out)):016x}"


# ----------------------------------------------------------------- checks
def run_maker(maker, mode, path):
    proc = subprocess.run([maker, mode, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode == SKIP_CODE:
        print(proc.stdout, end="")
        print("SKIP: the build has no HDF5")
        sys.exit(SKIP_CODE)
    return proc.returncode, proc.stdout.strip()


def check_with_h5py(path):
    with h5py.File(path, "r") as f:
        datasets, groups = {}, ["/"]
        f.visititems(lambda name, obj: datasets.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
                     else groups.append("/" + name))
        check(sorted(datasets) == sorted(TENSORS), f"datasets {sorted(datasets)} != {sorted(TENSORS)}")
        check(sorted(groups) == GROUPS, f"groups {sorted(groups)} != {GROUPS}")
        for name, want in TENSORS.items():
            if name not in f:
                continue
            ds = f[name]
            check(ds.dtype == np.dtype("<f4"), f"{name}: dtype {ds.dtype}, expected float32 little-endian")
            check(ds.shape == want.shape, f"{name}: shape {ds.shape}, expected {want.shape}")
            check(ds.chunks is None and ds.compression is None, f"{name}: chunked or compressed")
            check(ds.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS, f"{name}: layout is not contiguous")
            check(np.array_equal(ds[()], want), f"{name}: values {ds[()].ravel()[:8]}..., expected {want.ravel()[:8]}...")

        read_attrs = {}
        for group in GROUPS:
            g = f[group]
            for name in g.attrs:
                read_attrs.setdefault(group, {})[name] = g.attrs[name]
                tid = g.attrs.get_id(name).get_type()
                value = g.attrs[name]
                if name == "checksum" or isinstance(ATTRS.get(group, {}).get(name), str):
                    check(isinstance(value, str), f"{group} {name}: h5py reads {type(value).__name__}, expected str")
                    check(isinstance(tid, h5py.h5t.TypeStringID) and tid.is_variable_str()
                          and tid.get_cset() == h5py.h5t.CSET_UTF8, f"{group} {name}: not a variable-length UTF-8 string")
                elif isinstance(ATTRS.get(group, {}).get(name), int):
                    check(g.attrs.get_id(name).dtype == np.dtype("<i8"), f"{group} {name}: dtype {g.attrs.get_id(name).dtype}, expected <i8")
                    check(tid.equal(h5py.h5t.STD_I64LE), f"{group} {name}: not H5T_STD_I64LE")
                elif isinstance(ATTRS.get(group, {}).get(name), float):
                    check(g.attrs.get_id(name).dtype == np.dtype("<f8"), f"{group} {name}: dtype {g.attrs.get_id(name).dtype}, expected <f8")
                    check(tid.equal(h5py.h5t.IEEE_F64LE), f"{group} {name}: not H5T_IEEE_F64LE")
                check(g.attrs.get_id(name).shape == (), f"{group} {name}: not a scalar")
        for group, want in ATTRS.items():
            got = {k: v for k, v in read_attrs.get(group, {}).items() if not (group == "/" and k == "checksum")}
            check(sorted(got) == sorted(want), f"{group}: attributes {sorted(got)}, expected {sorted(want)}")
            for name, v in want.items():
                if name in got:
                    check(got[name] == v and type(got[name].item() if hasattr(got[name], "item") else got[name]) is type(v),
                          f"{group} {name}: {got[name]!r}, expected {v!r}")
        for group in read_attrs:
            check(group in ATTRS or (group == "/"), f"unexpected attributes on {group}")

        stored = f.attrs.get("checksum")
        check(isinstance(stored, str) and len(stored) == 16 and all(c in "0123456789abcdef" for c in stored),
              f"checksum {stored!r} is not 16 lowercase hex digits")
        computed = checksum(datasets, read_attrs)
        check(stored == computed, f"checksum: file says {stored}, recomputed in Python {computed}")
        check(computed == checksum(TENSORS, ATTRS), "checksum of the file differs from that of the expectations")


def check_with_h5ls(path):
    out = subprocess.run([H5LS, "-r", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(out.returncode == 0, f"h5ls -r exited with {out.returncode}: {out.stdout}")
    listed = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            listed[parts[0]] = parts[1].strip()
    want = {g: "Group" for g in GROUPS}
    for name, a in TENSORS.items():
        want["/" + name] = "Dataset {" + ", ".join(str(d) for d in a.shape) + "}"
    check(listed == want, f"h5ls -r lists\n{out.stdout}expected {want}")


USER_BLOCK = 512


def read_seal(path):
    """(digest hex, size) from the seal line, checking its form."""
    with open(path, "rb") as f:
        block = f.read(USER_BLOCK)
    line, _, rest = block.partition(b"\n")
    parts = line.split(b" ")
    check(len(parts) == 3 and parts[0] == b"GPTCKPT1", f"seal line {line!r} is not 'GPTCKPT1 DIGEST SIZE'")
    check(rest.strip(b"\0") == b"", "the user block holds more than the seal line")
    return parts[1].decode(), int(parts[2])


def seal_of(path):
    with open(path, "rb") as f:
        data = f.read()
    return f"{xxh64(data[USER_BLOCK:]):016x}", len(data)


def reseal(path):
    digest, size = seal_of(path)
    block = f"GPTCKPT1 {digest} {size}\n".encode().ljust(USER_BLOCK, b"\0")
    with open(path, "r+b") as f:
        f.write(block)


def check_seal(path):
    check(read_seal(path) == seal_of(path), f"seal {read_seal(path)} differs from the file's {seal_of(path)}")
    with h5py.File(path, "r") as f:
        check(f.userblock_size == USER_BLOCK, f"user block of {f.userblock_size} bytes, expected {USER_BLOCK}")


def check_refused(maker, path, workdir, name, edit, expect):
    bad = os.path.join(workdir, f"edited_{name}.h5")
    shutil.copyfile(path, bad)
    with h5py.File(bad, "r+") as f:
        edit(f)
    rc, out = run_maker(maker, "verify", bad)
    check(rc == 1 and "sealed" in out and bad in out, f"edit '{name}': verify exited {rc} with '{out}', expected 1 and a broken seal")
    reseal(bad)
    rc, out = run_maker(maker, "verify", bad)
    check(rc == 1 and expect in out and bad in out,
          f"edit '{name}', resealed: verify exited {rc} with '{out}', expected 1 and '{expect}'")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maker", required=True, help="the make_checkpoint executable")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()

    # Known answers of XXH64 (from the xxHash project) check the Python port first.
    check(xxh64(b"") == 0xEF46DB3751D8E999, "xxh64('') is wrong")
    check(xxh64(b"a") == 0xD24EC4F1A98C6E5B, "xxh64('a') is wrong")
    check(xxh64(b"abc") == 0x44BC2CF5AD770999, "xxh64('abc') is wrong")

    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    path = os.path.join(args.workdir, "step_00000007.h5")
    rc, out = run_maker(args.maker, "write", path)
    if rc != 0:
        sys.exit(f"FAIL: {args.maker} write exited with {rc}: {out}")
    check([p for p in os.listdir(args.workdir) if ".tmp." in p] == [], "a temporary file was left behind")
    rc, out = run_maker(args.maker, "verify", path)
    check(rc == 0, f"verify of the fresh file exited with {rc}: {out}")

    check_with_h5py(path)
    check_with_h5ls(path)
    check_seal(path)

    legacy = os.path.join(os.path.dirname(os.path.abspath(__file__)), "legacy_step_00000007.h5")
    rc, out = run_maker(args.maker, "verify", legacy)
    check(rc == 0, f"verify of the unsealed legacy file exited with {rc}: {out}")
    check_with_h5py(legacy)

    def set_value(f):
        f["params/a"][0, 1] = 99.0

    def drop_checksum(f):
        del f.attrs["checksum"]

    def as_float64(f):
        del f["params/b"]
        f.create_dataset("params/b", data=np.array([0, -1, -2, -3], dtype=np.float64))

    def add_attribute(f):
        f["rng"].attrs["extra"] = np.int64(1)

    check_refused(args.maker, path, args.workdir, "value", set_value, "checksum mismatch")
    check_refused(args.maker, path, args.workdir, "no_checksum", drop_checksum, "no checksum attribute")
    check_refused(args.maker, path, args.workdir, "float64", as_float64, "params/b is not float32")
    def add_fixed_string(f):
        f["rng"].attrs["fixed"] = np.bytes_(b"abc")  # fixed-length: read, then not in the checksum

    def add_array_attribute(f):
        f["optim"].attrs["betas"] = np.array([0.9, 0.95])

    check_refused(args.maker, path, args.workdir, "extra_attr", add_attribute, "checksum mismatch")
    check_refused(args.maker, path, args.workdir, "fixed_string", add_fixed_string, "checksum mismatch")
    check_refused(args.maker, path, args.workdir, "array_attr", add_array_attribute, "is not a scalar")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print(f"OK: {path} reads as expected with h5py {h5py.version.version} (HDF5 {h5py.version.hdf5_version}) and h5ls")


if __name__ == "__main__":
    main()
