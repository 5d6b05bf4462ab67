#!/usr/bin/env bash
# Our CPU training step beside PyTorch's, in one run on this machine, as a Markdown table: the
# tiny config (B=4, T=128, its micro-batch) and GPT-2 124M at B=4, T=64 and B=1, T=1024; ours in
# fp32 and bf16 (bench_cpu), PyTorch eager fp32, torch.compile and torch.autocast("cpu",
# torch.bfloat16) (tests/bench/bench_torch_cpu.py, nanoGPT's design). Every figure is the median
# step over STEPS steps after warm-up, on the same thread count (bench_cpu's choice, as train's
# with train.threads = 0); the last column is our step's achieved rate against the best matmul
# rate bench_cpu measured in that precision.
#
#   tests/bench/bench_cpu_vs_torch.sh [BUILD [STEPS]]   (BUILD defaults to ./build, STEPS to 3)
#
# Needs BUILD/tests/bench_cpu and the tests' venv (BUILD/venv, with the pinned torch 2.15). Takes
# about 15 minutes on 2 cores, most of it the B=1, T=1024 rows and torch.compile's compilations.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "${1:-build}" && pwd)"
steps="${2:-3}"
python="$build/venv/bin/python"
bench="$build/tests/bench_cpu"
[[ -x "$bench" ]] || { echo "error: $bench is missing: ninja -C $build bench_cpu" >&2; exit 2; }
"$python" -c 'import torch, sys; sys.exit(int(torch.__version__.split(".")[0]) < 2)' 2>/dev/null ||
  { echo "error: $python has no torch 2 (bash tests/python/make_venv.sh $build/venv)" >&2; exit 2; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
threads=""
declare -A ms tok note
for shape in "tiny 4 128" "gpt2-124m 4 64" "gpt2-124m 1 1024"; do
  read -r model B T <<<"$shape"
  "$bench" --model "$model" --batch "$B" --seq "$T" --steps "$steps" >"$log"
  [[ -n "$threads" ]] || { threads="$(sed -n 's/^threads: \([0-9]*\).*/\1/p' "$log")"; head -n 3 "$log"; }
  while read -r _ precision _ _ _ rest; do
    ms["$shape ours $precision"]="$(sed 's/ ms\/step.*//' <<<"$rest")"
    tok["$shape ours $precision"]="$(sed 's/.*ms\/step, \([0-9]*\) tok\/s.*/\1/' <<<"$rest")"
    note["$shape ours $precision"]="$(sed 's/.*= \([0-9]*%\) of the .*/\1/' <<<"$rest")"
  done < <(grep '^ours ' "$log")
  for mode in eager compile autocast; do
    line="$(OMP_NUM_THREADS="$threads" "$python" "$here/bench_torch_cpu.py" --threads "$threads" --steps "$steps" \
      --mode "$mode" --model "$model" --batch "$B" --seq "$T" 2>/dev/null | tail -n 1)"
    ms["$shape $mode"]="$(sed 's/.*: \([0-9.]*\) ms\/step.*/\1/' <<<"$line")"
    tok["$shape $mode"]="$(sed 's/.*ms\/step, \([0-9]*\) tok\/s.*/\1/' <<<"$line")"
    torch_version="$(sed 's/.*(torch \([^,)]*\).*/\1/' <<<"$line")"
  done
done

echo
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads; bf16 flags: $(grep -o -w -E 'amx_bf16|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "PyTorch $torch_version; each cell: ms/step (tok/s); ours' last column: achieved share of the matmul peak"
echo
echo "| model, B x T | ours fp32 | ours bf16 | bf16 / fp32 | torch eager fp32 | torch.compile fp32 | torch autocast bf16 | ours' share of peak fp32 / bf16 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for shape in "tiny 4 128" "gpt2-124m 4 64" "gpt2-124m 1 1024"; do
  read -r model B T <<<"$shape"
  cell() { [[ -n "${ms[$shape $1]:-}" ]] && echo "${ms[$shape $1]} (${tok[$shape $1]})" || echo "n/a"; }
  ratio="n/a"
  [[ -n "${ms[$shape ours bf16]:-}" ]] &&
    ratio="$(awk -v a="${ms[$shape ours fp32]}" -v b="${ms[$shape ours bf16]}" 'BEGIN { printf "%.2fx", a / b }')"
  echo "| $model, $B x $T | $(cell "ours fp32") | $(cell "ours bf16") | $ratio | $(cell eager) | $(cell compile) | $(cell autocast) | ${note[$shape ours fp32]} / ${note[$shape ours bf16]:-n/a} |"
done
