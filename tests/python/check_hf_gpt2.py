"""Hugging Face GPT-2 in and out, checked with transformers itself (the venv's transformers over
the venv's own torch 2.15).

1. Import: a random GPT2LMHeadModel of odd sizes (3 layers, n_embd 96, 3 heads, n_positions 64,
   vocabulary 50257; every weight, bias and LayerNorm gain random) saved with save_pretrained in
   float32, float16 and bfloat16. Our fp32 logits and loss on the same tokens (hf_logits --hf)
   equal transformers' to 1e-5 relative, for each dtype (against the model transformers loads
   from that folder).
2. HF -> ours -> HF: the weights written back out of our model's buffers (hf_logits --hf-out)
   are bitwise the tensors save_pretrained wrote, under the same names, in each dtype.
3. The import trains: `train --init-from hf:DIR` for 3 steps runs, its losses are finite, and
   the exported result lies within 3 AdamW steps of the imported weights (so training started
   from them), but not on them. configs/gpt2-124m-finetune.toml takes a folder of GPT-2 124M's
   shape (save_pretrained of GPT2Config()) and trains a step from it.
4. Export: the tiny config trained for 120 steps, `export --run-dir` to a folder that
   GPT2LMHeadModel.from_pretrained and AutoTokenizer.from_pretrained load alone; transformers'
   logits equal ours (hf_logits --checkpoint) to 1e-5 relative, and its greedy continuation of
   "Once upon a time" for 30 tokens is our `generate --temperature 0` text. --dtype bfloat16
   writes torch's own bfloat16 rounding of the float32 weights.

    check_hf_gpt2.py --train T --generate G --export E --logits L --config TINY --finetune-config FT \
                     --data DIR --workdir DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

try:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel
except ImportError as e:  # the venv exists but lacks transformers
    print(f"skipped: transformers is not importable: {e}")
    sys.exit(77)

TOLERANCE = 1e-5
failures = []


def check(condition, message):
    print(("ok:   " if condition else "FAIL: ") + message)
    if not condition:
        failures.append(message)


def run(cmd, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        print("command failed:", " ".join(map(str, cmd)), "\nstdout:", proc.stdout[-3000:], "\nstderr:",
              proc.stderr[-3000:])
        raise SystemExit(1)
    return proc


def relative(ours, theirs):
    """Relative error, by the norm of the difference and by the largest element."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    by_norm = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
    by_max = np.abs(ours - theirs).max() / np.abs(theirs).max()
    return max(by_norm, by_max)


def our_logits(args, source, tokens, out, *extra):
    """Our logits (B, T, V) and loss for rows of T+1 tokens, from --hf DIR or --checkpoint FILE."""
    rows = tokens.shape[0]
    flat = ",".join(str(int(t)) for t in tokens.reshape(-1))
    result = json.loads(run([args.logits, *source, "--rows", rows, "--tokens", flat, "--out", out, *extra])
                        .stdout.strip().splitlines()[-1])
    logits = np.fromfile(out, dtype=np.float32)
    return logits.reshape(rows, tokens.shape[1] - 1, -1), result["loss"]


def hf_logits(model, tokens):
    with torch.no_grad():
        inputs = torch.tensor(tokens[:, :-1], dtype=torch.long)
        logits = model(inputs).logits.float()
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 torch.tensor(tokens[:, 1:], dtype=torch.long).reshape(-1))
    return logits.numpy(), float(loss)


def random_hf_model(work):
    """A random small GPT2LMHeadModel saved in each dtype: {dtype: folder}."""
    torch.manual_seed(1234)
    config = GPT2Config(n_layer=3, n_embd=96, n_head=3, n_positions=64, vocab_size=50257, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # nothing left at its initial zero or one: every mapping is seen
        for name, p in model.named_parameters():
            if ".ln_" in name and name.endswith(".weight") or name.startswith("transformer.ln_f.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.05 * torch.randn_like(p))
    folders = {}
    for dtype in ("float32", "float16", "bfloat16"):
        folders[dtype] = os.path.join(work, f"hf_{dtype}")
        model.to(getattr(torch, dtype)).save_pretrained(folders[dtype], safe_serialization=True)
    return folders


def import_matches_transformers(args, folders):
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, 50257, size=(2, 65))  # 64 positions in, 64 scored
    for dtype, folder in folders.items():
        theirs_model = GPT2LMHeadModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
        theirs, their_loss = hf_logits(theirs_model, tokens)
        ours, our_loss = our_logits(args, ["--hf", folder], tokens, os.path.join(args.workdir, f"logits_{dtype}.bin"))
        err = relative(ours, theirs)
        check(ours.shape == theirs.shape and err <= TOLERANCE,
              f"import {dtype}: logits {ours.shape} match transformers' (relative error {err:.2e})")
        err = abs(our_loss - their_loss) / their_loss
        check(err <= TOLERANCE, f"import {dtype}: loss {our_loss:.6f} vs transformers' {their_loss:.6f} ({err:.1e})")


def round_trip_is_bitwise(args, folders):
    tokens = np.zeros((1, 3), dtype=np.int64)
    for dtype, folder in folders.items():
        back = os.path.join(args.workdir, f"back_{dtype}")
        our_logits(args, ["--hf", folder], tokens, os.path.join(args.workdir, "unused.bin"), "--hf-out", back,
                   "--dtype", dtype)
        theirs, ours = load_file(os.path.join(folder, "model.safetensors")), load_file(
            os.path.join(back, "model.safetensors"))
        check(sorted(theirs) == sorted(ours),
              f"round trip {dtype}: the same {len(theirs)} tensor names (only in HF's: "
              f"{sorted(set(theirs) - set(ours))[:5]}, only in ours: {sorted(set(ours) - set(theirs))[:5]})")
        differ = [n for n in theirs if n in ours and (theirs[n].dtype != ours[n].dtype or theirs[n].shape != ours[n].shape
                                                      or not torch.equal(theirs[n], ours[n]))]
        check(not differ, f"round trip {dtype}: every tensor bitwise equal, dtype and shape included (differ: "
                          f"{differ[:5]})")


def train_args(args, run_dir):
    data = os.path.join(args.data, "tinystories")
    return [args.train, args.config, f"--data.train={data}/TinyStories-train-sample.bin",
            f"--data.val={data}/TinyStories-valid-sample.bin", f"--run.dir={run_dir}", "--log.tensorboard=false"]


def import_trains(args, folders):
    run_dir = os.path.join(args.workdir, "finetune")
    proc = run(train_args(args, run_dir) + [
        "--model.n_layer=3", "--model.n_embd=96", "--model.n_head=3", "--model.block_size=64", "--train.seq_len=64",
        "--train.micro_batch=4", "--train.batch_tokens=256", "--train.max_steps=3", "--optim.warmup_steps=1",
        "--log.interval=1", "--eval.interval=3", "--eval.batches=2", f"--init-from=hf:{folders['float32']}"])
    check("Hugging Face GPT-2 folder" in proc.stdout, "train --init-from hf: reports the folder it started from")
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    losses = [r["loss"] for r in records if "loss" in r]
    check(len(losses) == 3 and all(np.isfinite(losses)), f"3 training steps from the import, losses {losses}")
    out = os.path.join(args.workdir, "finetuned_hf")
    run([args.export, "--run-dir", run_dir, "--hf-out", out])
    start, trained = load_file(os.path.join(folders["float32"], "model.safetensors")), load_file(
        os.path.join(out, "model.safetensors"))
    moved = max(float((trained[n] - start[n]).abs().max()) for n in start)
    lr = 3e-3  # configs/tiny.toml's; Adam moves each weight by at most about lr a step
    check(0 < moved <= 3 * lr * 1.05,
          f"the trained weights lie within 3 steps of the imported ones (largest change {moved:.2e})")


def finetune_config_takes_gpt2_124m(args):
    """README's fine-tuning command on a folder of GPT-2 124M's shape (random weights; the published
    ones need the network), one small CPU step instead of the config's GPU batches."""
    folder = os.path.join(args.workdir, "gpt2_124m")
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder, safe_serialization=True)
    run_dir = os.path.join(args.workdir, "finetune_124m")
    data = os.path.join(args.data, "tinystories")
    proc = run([args.train, args.finetune_config, f"--init-from=hf:{folder}", f"--run.dir={run_dir}",
                f"--data.train={data}/TinyStories-train-sample.bin", f"--data.val={data}/TinyStories-valid-sample.bin",
                "--train.backend=cpu", "--train.precision=fp32", "--train.seq_len=64", "--train.micro_batch=1",
                "--train.batch_tokens=64", "--train.max_steps=1", "--eval.interval=0", "--log.interval=1",
                "--log.sample_interval=0", "--log.tensorboard=false"])
    check("148 parameter tensors from the Hugging Face GPT-2 folder" in proc.stdout and "step 1/1 |" in proc.stdout,
          "configs/gpt2-124m-finetune.toml starts from a GPT-2 124M folder and trains")
    shutil.rmtree(folder)
    shutil.rmtree(run_dir)


def export_loads_in_transformers(args):
    run_dir = os.path.join(args.workdir, "tiny")
    # Long enough that the greedy text is words, not a run of newlines.
    run(train_args(args, run_dir) + ["--train.max_steps=120", "--eval.interval=120", "--eval.batches=2",
                                     "--log.interval=40"])
    out = os.path.join(args.workdir, "tiny_hf")
    proc = run([args.export, "--run-dir", run_dir, "--hf-out", out])
    print(proc.stdout.strip())
    for name in ("config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"):
        check(os.path.isfile(os.path.join(out, name)), f"export wrote {name}")
    model = GPT2LMHeadModel.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    check(model.config.vocab_size == 50257 and model.config.n_positions == 128,
          "from_pretrained: the real vocabulary and 128 positions")

    checkpoint = sorted(os.listdir(os.path.join(run_dir, "checkpoints")))[-1]
    rng = np.random.default_rng(11)
    tokens = rng.integers(0, 50257, size=(2, 129))
    theirs, their_loss = hf_logits(model, tokens)
    ours, our_loss = our_logits(args, ["--checkpoint", os.path.join(run_dir, "checkpoints", checkpoint)], tokens,
                                os.path.join(args.workdir, "logits_tiny.bin"))
    err = relative(ours, theirs)
    check(err <= TOLERANCE, f"export: transformers' logits equal ours (relative error {err:.2e})")
    check(abs(our_loss - their_loss) / their_loss <= TOLERANCE,
          f"export: loss {our_loss:.6f} vs transformers' {their_loss:.6f}")

    prompt = "Once upon a time"
    ours_text = run([args.generate, "--run-dir", run_dir, "--prompt", prompt, "--temperature", "0",
                     "--max-new-tokens", "30"]).stdout
    ours_text = ours_text[:-1] if ours_text.endswith("\n") else ours_text  # the line end generate adds
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    # generate() asks whether FSDP manages the model by importing torch.distributed.fsdp, which
    # Debian's torch 1.13 cannot import under Python 3.11 (a dataclass with a mutable default).
    # No FSDP runs in this process, so the answer is no.
    import transformers.generation.utils as generation_utils
    generation_utils.is_fsdp_managed_module = lambda module: False
    with torch.no_grad():
        out_ids = model.generate(ids, do_sample=False, max_new_tokens=30, pad_token_id=tokenizer.eos_token_id)
    theirs_text = tokenizer.decode(out_ids[0], skip_special_tokens=True)
    print(f"ours:   {ours_text!r}\ntheirs: {theirs_text!r}")
    check(out_ids.shape[1] > ids.shape[1] + 5 and len(set(theirs_text[len(prompt):].split())) >= 5,
          f"transformers generated {out_ids.shape[1] - ids.shape[1]} tokens, of at least 5 different words")
    check(ours_text == theirs_text, "greedy: transformers continues the prompt as our generate does")

    bf16 = os.path.join(args.workdir, "tiny_hf_bf16")
    run([args.export, "--run-dir", run_dir, "--hf-out", bf16, "--dtype", "bfloat16"])
    full, half = load_file(os.path.join(out, "model.safetensors")), load_file(os.path.join(bf16, "model.safetensors"))
    differ = [n for n in full if half[n].dtype != torch.bfloat16 or not torch.equal(full[n].to(torch.bfloat16), half[n])]
    check(not differ, f"--dtype bfloat16: torch's own rounding of every float32 tensor (differ: {differ[:5]})")
    with open(os.path.join(bf16, "config.json")) as f:
        check(json.load(f)["torch_dtype"] == "bfloat16", "--dtype bfloat16: config.json says so")


def main():
    ap = argparse.ArgumentParser()
    for name in ("train", "generate", "export", "logits", "config", "finetune-config", "data", "workdir"):
        ap.add_argument(f"--{name}", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    folders = random_hf_model(args.workdir)
    import_matches_transformers(args, folders)
    round_trip_is_bitwise(args, folders)
    import_trains(args, folders)
    finetune_config_takes_gpt2_124m(args)
    export_loads_in_transformers(args)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("hf_gpt2: import matches transformers in 3 dtypes, round trip bitwise, the import trains, "
          "export loads and generates alike in transformers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
