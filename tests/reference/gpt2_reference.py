#!/usr/bin/python3
"""PyTorch float64 reference check for the C++ GPT-2 trainer.

Runs `EXPORTER --case NAME --out DIR`, rebuilds the same GPT-2 in float64 from
the exported initial parameters, and compares our fp32 logits, loss, gradients,
10 AdamW step losses and final parameters against it.

Usage (as ctest runs it):
  /usr/bin/python3 tests/reference/gpt2_reference.py \
      --exporter PATH --case NAME --workdir DIR

Exit codes: 0 all checks passed, 1 a check failed or the export is broken,
77 skipped (python3-torch missing, or the exporter itself exited 77).
"""
import argparse
import json
import math
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    print("SKIP: python3-torch not installed")
    sys.exit(77)

LN_EPS = 1e-5
CLIP_EPS = 1e-6
SKIP_CODE = 77


# ----------------------------------------------------------------- export I/O
def run_exporter(exporter, case, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    cmd = [exporter, "--case", case, "--out", out_dir]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode == SKIP_CODE:
        print(proc.stdout, end="")
        print(f"SKIP: exporter skipped case {case}")
        sys.exit(SKIP_CODE)
    if proc.returncode != 0:
        print(proc.stdout, end="")
        sys.exit(f"FAIL: exporter exited with {proc.returncode}: {' '.join(cmd)}")


def read_array(path, dtype, count):
    data = np.fromfile(path, dtype=dtype)
    if data.size != count:
        sys.exit(f"FAIL: {path} holds {data.size} elements, expected {count}")
    return data


def load_export(out_dir):
    with open(os.path.join(out_dir, "case.json")) as f:
        case = json.load(f)
    m, B, T, n = case["model"], case["B"], case["T"], case["param_numel"]
    path = lambda name: os.path.join(out_dir, name)
    exp = {
        "case": case,
        "params": read_array(path("params.bin"), "<f4", n),
        "grads": read_array(path("grads.bin"), "<f4", n),
        "final_params": read_array(path("final_params.bin"), "<f4", n),
        "tokens": read_array(path("tokens.bin"), "<i4", B * T).reshape(B, T),
        "targets": read_array(path("targets.bin"), "<i4", B * T).reshape(B, T),
        "logits": read_array(path("logits.bin"), "<f4", B * T * m["vocab_size"])
                  .reshape(B, T, m["vocab_size"]),
    }
    for p in case["params"]:
        if p["offset"] + math.prod(p["shape"]) > n:
            sys.exit(f"FAIL: param {p['name']} extends past param_numel")
    if exp["tokens"].min() < 0 or exp["tokens"].max() >= m["real_vocab_size"]:
        sys.exit("FAIL: token id out of range")
    if exp["targets"].min() < 0 or exp["targets"].max() >= m["real_vocab_size"]:
        sys.exit("FAIL: target id out of range")
    return exp


def slice_tensor(flat, spec):
    numel = math.prod(spec["shape"])
    return flat[spec["offset"]:spec["offset"] + numel].reshape(spec["shape"])


def unflatten(flat, specs):
    """Flat float32 buffer -> {name: float64 leaf tensor requiring grad}."""
    return {s["name"]: torch.tensor(slice_tensor(flat, s), dtype=torch.float64,
                                    requires_grad=True) for s in specs}


# ---------------------------------------------------------- reference model
def linear(x, P, prefix):
    return F.linear(x, P[prefix + ".weight"], P.get(prefix + ".bias"))


def layer_norm(x, P, prefix, m):
    w = P[prefix + ".weight"]
    if m["norm"] == "rmsnorm":
        return rms_norm(x) * w
    return F.layer_norm(x, w.shape, w, P.get(prefix + ".bias"), LN_EPS)


def rms_norm(x):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + LN_EPS)


def rotary(x, base):
    """x (B, heads, T, d): Llama's half-split rotation, pair (i, i + d/2) by t * base^(-2i/d)."""
    T, d = x.shape[-2], x.shape[-1]
    inv_freq = base ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2.0 / d)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = torch.cat([angle.cos()] * 2, dim=-1), torch.cat([angle.sin()] * 2, dim=-1)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(x, P, prefix, m):
    B, T, C = x.shape
    n_head = m["n_head"]
    hd = C // n_head
    q, k, v = linear(x, P, prefix + ".c_attn").split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, hd).transpose(1, 2) for t in (q, k, v))
    if m["qk_norm"]:
        q, k = rms_norm(q), rms_norm(k)
    if m["positions"] == "rope":
        q, k = rotary(q, m["rope_base"]), rotary(k, m["rope_base"])
    att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, C)
    return linear(y, P, prefix + ".c_proj")


def mlp(x, P, prefix, activation, hidden):
    h = linear(x, P, prefix + ".c_fc")
    if activation == "gelu":
        h = gelu_tanh(h)
    elif activation == "swiglu":
        gate, up = h[..., :hidden], h[..., hidden:]
        h = F.silu(gate) * up
    elif activation == "relu2":
        h = F.relu(h).square()
    else:
        sys.exit(f"FAIL: unknown activation {activation!r}")
    return linear(h, P, prefix + ".c_proj")


def forward_logits(P, tokens, m):
    T = tokens.shape[1]
    x = P["wte.weight"][tokens]
    if m["positions"] == "learned":
        x = x + P["wpe.weight"][:T]
    elif "wpe.weight" in P:
        sys.exit("FAIL: a RoPE model exported a wpe table")
    for l in range(m["n_layer"]):
        x = x + attention(layer_norm(x, P, f"h.{l}.ln_1", m), P, f"h.{l}.attn", m)
        x = x + mlp(layer_norm(x, P, f"h.{l}.ln_2", m), P, f"h.{l}.mlp",
                    m["activation"], m["hidden"])
    x = layer_norm(x, P, "ln_f", m)
    head = P["wte.weight"] if m["tie_embeddings"] else P["lm_head.weight"]
    logits = x @ head.t()
    cap = m["logit_softcap"]
    return cap * torch.tanh(logits / cap) if cap > 0 else logits


def mean_loss(logits, targets, real_vocab):
    padding = torch.arange(logits.shape[-1]) >= real_vocab
    logp = logits.masked_fill(padding, float("-inf")).log_softmax(dim=-1)
    return -logp.gather(-1, targets.unsqueeze(-1)).mean()


# ---------------------------------------------------------- reference optimizer
def adamw_steps(P, specs, tokens, targets, m, opt, steps):
    """Returns (losses before each step, loss after the last step). Updates P in place."""
    decay = {s["name"]: s["decay"] for s in specs}
    state = {n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in P.items()}
    b1, b2, lr, eps, wd = opt["beta1"], opt["beta2"], opt["lr"], opt["eps"], opt["weight_decay"]
    losses = []
    for t in range(1, steps + 1):
        for p in P.values():
            p.grad = None
        loss = mean_loss(forward_logits(P, tokens, m), targets, m["real_vocab_size"])
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in P.values()))
            clip = opt["grad_clip"]
            scale = clip / (norm + CLIP_EPS) if clip > 0 and norm > clip else 1.0
            for name, p in P.items():
                g = p.grad * scale
                mom, var = state[name]
                if decay[name]:
                    p -= lr * wd * p
                mom.mul_(b1).add_((1 - b1) * g)
                var.mul_(b2).add_((1 - b2) * g * g)
                m_hat = mom / (1 - b1 ** t)
                v_hat = var / (1 - b2 ** t)
                p -= lr * m_hat / (v_hat.sqrt() + eps)
    with torch.no_grad():
        final = mean_loss(forward_logits(P, tokens, m), targets, m["real_vocab_size"]).item()
    return losses, final


# ---------------------------------------------------------- comparisons
class Checker:
    def __init__(self, tol):
        self.tol, self.passed, self.failed = tol, 0, 0

    def record(self, name, err, ok, note=""):
        self.passed += ok
        self.failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'}  {name:<40s} {err:10.3e}{note}")

    def tensor(self, name, ours, ref):
        diff = np.linalg.norm(np.asarray(ours, np.float64).ravel() - np.asarray(ref, np.float64).ravel())
        ref_norm = np.linalg.norm(np.asarray(ref, np.float64).ravel())
        if ref_norm == 0.0:  # relative error undefined: require ours to be ~exactly zero
            self.record(name, diff, diff <= 1e-12, "  (abs; reference is all zero)")
        else:
            self.record(name, diff / ref_norm, diff / ref_norm <= self.tol)

    def scalar(self, name, ours, ref):
        err = abs(ours - ref) / abs(ref)
        self.record(name, err, err <= self.tol, f"  (ours {ours:.8f} ref {ref:.8f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exporter", required=True, help="path to the C++ exporter binary")
    ap.add_argument("--case", required=True, help="case name passed to the exporter")
    ap.add_argument("--workdir", required=True, help="scratch dir; export goes to WORKDIR/CASE")
    ap.add_argument("--tol", type=float, default=1e-5, help="max relative error (default 1e-5)")
    args = ap.parse_args()

    out_dir = os.path.join(args.workdir, args.case)
    run_exporter(args.exporter, args.case, out_dir)
    exp = load_export(out_dir)
    case, specs = exp["case"], exp["case"]["params"]
    m = case["model"]
    tokens = torch.from_numpy(exp["tokens"].astype(np.int64))
    targets = torch.from_numpy(exp["targets"].astype(np.int64))
    print(f"case {args.case}: {m}, B={case['B']} T={case['T']} steps={case['steps']}")

    chk = Checker(args.tol)
    # 1. logits, loss and gradients at the initial parameters
    P = unflatten(exp["params"], specs)
    logits = forward_logits(P, tokens, m)
    loss = mean_loss(logits, targets, m["real_vocab_size"])
    loss.backward()
    chk.tensor("logits", exp["logits"], logits.detach().numpy())
    chk.scalar("loss", case["loss"], loss.item())
    for s in specs:
        chk.tensor("grad " + s["name"], slice_tensor(exp["grads"], s), P[s["name"]].grad.numpy())

    # 2. AdamW training trajectory on the same batch
    P = unflatten(exp["params"], specs)
    ref_losses, ref_final = adamw_steps(P, specs, tokens, targets, m, case["optim"], case["steps"])
    if len(case["step_losses"]) != case["steps"]:
        sys.exit(f"FAIL: {len(case['step_losses'])} step_losses for {case['steps']} steps")
    for i, (ours, ref) in enumerate(zip(case["step_losses"], ref_losses)):
        chk.scalar(f"step_loss[{i}]", ours, ref)
    chk.scalar("final_loss", case["final_loss"], ref_final)
    for s in specs:
        chk.tensor("final " + s["name"], slice_tensor(exp["final_params"], s),
                   P[s["name"]].detach().numpy())

    print(f"parity {args.case}: {chk.passed} checks passed, {chk.failed} failed")
    return 0 if chk.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
