"""The PyTorch model of tests/bench/bench_torch_cpu.py computes what our model computes, so the
CPU benchmark compares the same work: a random GPT2LMHeadModel of odd sizes (3 layers, n_embd 96,
3 heads, 64 positions, vocabulary 50257, every weight random) saved with save_pretrained, its
weights copied into the benchmark's GPT by name (Conv1D matrices transposed), and our loss on the
same tokens (hf_logits --hf) equal to the benchmark model's to 1e-5 relative, logits too. Then one
benchmark step per mode (eager, autocast, compile) runs on the tiny config and prints a finite
figure.

    check_torch_bench_model.py --logits HF_LOGITS --workdir DIR
"""
import argparse
import json
import os
import sys

import numpy as np

try:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
except ImportError as e:
    print(f"skipped: torch or transformers is not importable: {e}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "bench", "bench_torch_cpu.py")
sys.path.insert(0, os.path.dirname(BENCH))
import bench_torch_cpu  # noqa: E402
from check_hf_gpt2 import check, failures, run  # noqa: E402  (the same checks, one failure list)

TOLERANCE = 1e-5


def bench_model_from_hf(hf, n_layer, n_head, n_embd, block_size):
    model = bench_torch_cpu.GPT(n_layer, n_head, n_embd, block_size, vocab=hf.config.vocab_size)
    theirs = hf.state_dict()
    conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    names = {"wte.weight": "transformer.wte.weight", "wpe.weight": "transformer.wpe.weight",
             "ln_f.weight": "transformer.ln_f.weight", "ln_f.bias": "transformer.ln_f.bias"}
    ours_to_hf = {"ln1": "ln_1", "ln2": "ln_2", "attn.qkv": "attn.c_attn", "attn.proj": "attn.c_proj",
                  "fc": "mlp.c_fc", "fc_proj": "mlp.c_proj"}
    for i in range(n_layer):
        for ours, hf_name in ours_to_hf.items():
            for kind in ("weight", "bias"):
                names[f"blocks.{i}.{ours}.{kind}"] = f"transformer.h.{i}.{hf_name}.{kind}"
    copied = set()
    with torch.no_grad():
        for name, p in model.named_parameters():  # lm_head.weight is wte's, listed once
            source = theirs[names[name]]
            p.copy_(source.t() if names[name].endswith(conv1d) else source)
            copied.add(names[name])
    missing = {n for n in theirs if n.startswith("transformer.") and not n.endswith((".attn.bias", ".masked_bias"))}
    check(missing == copied, f"every HF weight copied into the benchmark model ({len(copied)} tensors; "
                             f"not copied: {sorted(missing - copied)[:5]})")
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logits", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    torch.manual_seed(4321)
    config = GPT2Config(n_layer=3, n_embd=96, n_head=3, n_positions=64, vocab_size=50257, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    hf = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            p.copy_((1 + 0.2 * torch.randn_like(p)) if ".ln_" in name and name.endswith(".weight") else
                    0.05 * torch.randn_like(p))
    folder = os.path.join(args.workdir, "hf")
    hf.save_pretrained(folder, safe_serialization=True)

    tokens = np.random.default_rng(11).integers(0, 50257, size=(2, 65))
    out = os.path.join(args.workdir, "logits.bin")
    flat = ",".join(str(int(t)) for t in tokens.reshape(-1))
    ours = json.loads(run([args.logits, "--hf", folder, "--rows", 2, "--tokens", flat, "--out", out])
                      .stdout.strip().splitlines()[-1])
    our_logits = np.fromfile(out, dtype=np.float32).reshape(2, 64, -1)

    model = bench_model_from_hf(hf, 3, 3, 96, 64)
    x = torch.tensor(tokens[:, :-1], dtype=torch.long)
    y = torch.tensor(tokens[:, 1:], dtype=torch.long)
    with torch.no_grad():
        theirs = model.logits(x).numpy()
        loss = float(model(x, y))
    err = np.linalg.norm(our_logits - theirs) / np.linalg.norm(theirs)
    check(our_logits.shape == theirs.shape and err <= TOLERANCE,
          f"benchmark model's logits {theirs.shape} equal ours (relative error {err:.2e})")
    err = abs(loss - ours["loss"]) / ours["loss"]
    check(err <= TOLERANCE, f"benchmark model's loss {loss:.6f} equals ours {ours['loss']:.6f} ({err:.1e})")

    for mode in ("eager", "autocast", "compile"):
        line = run([sys.executable, BENCH, "--threads", 2, "--steps", 1, "--warmup", 1, "--mode", mode, "--model",
                    "tiny", "--batch", 2, "--seq", 32]).stdout.strip().splitlines()[-1]
        ms = float(line.split(": ")[1].split(" ms/step")[0]) if " ms/step" in line else float("nan")
        check(line.startswith(f"torch {mode} tiny 2 32:") and np.isfinite(ms) and ms > 0,
              f"benchmark step in {mode} mode prints a figure: {line}")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
