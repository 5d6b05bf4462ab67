#!/usr/bin/env python3
"""PyTorch's CPU training step on the models bench_cpu times, for bench_cpu_vs_torch.sh.

The model follows nanoGPT's design (learned position embeddings, pre-LayerNorm blocks with
causal scaled_dot_product_attention and a tanh-GELU MLP, a tied LM head, vocabulary padded to
50304) and its training step (AdamW with weight decay on the matrices only, betas 0.9/0.95,
gradient clipping at 1.0). It is written here from that design, not from our C++ code, so the
comparison is against what a PyTorch user would run.

  bench_torch_cpu.py --threads N --steps S --mode {eager,compile,autocast} \\
      --model {tiny,gpt2-124m} --batch B --seq T

Prints one line: "torch MODE MODEL B T: MS ms/step, TOK tok/s (torch VERSION)", the median over
S steps after warm-up steps (torch.compile's compilation happens in the warm-up and is printed
separately as "compile_s").
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = {  # n_layer, n_head, n_embd, block_size; vocab 50304 for both
    "tiny": (4, 4, 128, 128),
    "gpt2-124m": (12, 12, 768, 1024),
}
VOCAB = 50304


class SelfAttention(nn.Module):
    def __init__(self, n_head, n_embd):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        heads = lambda t: t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, n_head, n_embd):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_head, n_embd)
        self.ln2 = nn.LayerNorm(n_embd)
        self.fc = nn.Linear(n_embd, 4 * n_embd)
        self.fc_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, block_size, vocab=VOCAB):
        super().__init__()
        self.vocab = vocab
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_head, n_embd) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as GPT-2
        for name, p in self.named_parameters():
            if p.dim() == 2:  # GPT-2's init: N(0, 0.02), residual projections scaled by depth
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def logits(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def forward(self, idx, targets):
        return F.cross_entropy(self.logits(idx).float().view(-1, self.vocab), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--mode", choices=["eager", "compile", "autocast"], required=True)
    ap.add_argument("--model", choices=list(MODELS), required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1337)
    model = GPT(*MODELS[args.model])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    forward = torch.compile(model) if args.mode == "compile" else model
    x = torch.randint(0, 50257, (args.batch, args.seq))
    y = torch.randint(0, 50257, (args.batch, args.seq))

    def step():
        optimizer.zero_grad(set_to_none=True)
        if args.mode == "autocast":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = forward(x, y)
        else:
            loss = forward(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    if not math.isfinite(loss):
        raise SystemExit(f"error: torch {args.mode} step gave loss {loss}")
    ms = 1e3 * statistics.median(times)
    extra = f", compile_s {warmup_s:.1f}" if args.mode == "compile" else ""
    print(f"torch {args.mode} {args.model} {args.batch} {args.seq}: {ms:.1f} ms/step, "
          f"{args.batch * args.seq / ms * 1e3:.0f} tok/s (torch {torch.__version__}{extra})")


if __name__ == "__main__":
    main()
