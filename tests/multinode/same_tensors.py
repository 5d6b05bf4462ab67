"""same_tensors.py A.h5 B.h5 TOLERANCE: every parameter and AdamW moment of two checkpoints agrees
within TOLERANCE, as tests/mpi measures it: |a - b| / |b| over the tensor's elements (Euclidean
norms), or bit for bit when TOLERANCE is 0. The attention key
bias (the middle third of c_attn.bias) is left out when TOLERANCE > 0: its gradient is exactly
zero in exact arithmetic, so Adam turns rounding noise into lr-sized steps that follow the
summation order, which differs between world sizes."""
import sys

import h5py
import numpy as np

a_path, b_path, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
problems, compared = [], 0
with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
    names = []
    a.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    for name in names:
        if not name.startswith(("params/", "optim/")):
            continue
        if name not in b:
            problems.append(f"{name}: missing in {b_path}")
            continue
        x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
        if x.shape != y.shape:
            problems.append(f"{name}: shape {x.shape} vs {y.shape}")
            continue
        if tolerance > 0 and name.endswith("attn.c_attn.bias"):
            third = x.shape[0] // 3
            x, y = np.delete(x, np.s_[third:2 * third]), np.delete(y, np.s_[third:2 * third])
        compared += 1
        if tolerance == 0:
            if x.tobytes() != y.tobytes():
                problems.append(f"{name}: not bit for bit the same")
            continue
        scale = float(np.linalg.norm(y))
        worst = float(np.linalg.norm(x - y)) / (scale if scale > 0 else 1.0)
        if worst > tolerance:
            problems.append(f"{name}: relative difference {worst:.3g} > {tolerance}")
if compared == 0:
    problems.append("no tensors compared")
print(f"{compared} tensors compared, {len(problems)} differ")
for p in problems[:10]:
    print("  " + p)
sys.exit(1 if problems else 0)
