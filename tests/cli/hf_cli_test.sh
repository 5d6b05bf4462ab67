#!/usr/bin/env bash
# Hugging Face GPT-2 folders with the tools, as a user runs them (no transformers needed; the venv
# test check_hf_gpt2.py compares with transformers itself): `export` writes a folder from a tiny
# run, `generate --hf` on it writes what `generate --run-dir` writes, `train --init-from hf:`
# trains from it (a requeued job with checkpoint.resume = auto resumes instead), and broken
# folders and models GPT-2 cannot hold are refused with one `error:` line naming the file and the
# tensor or key, exit code 2.
#   hf_cli_test.sh TRAIN_BIN GENERATE_BIN EXPORT_BIN CONFIG SAMPLE_DATA_DIR   ($GPT_DATA_DIR, when set, wins)
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/cli_lib.sh"
here="$(cd "$(dirname "$0")" && pwd)"
train="$(realpath "$1")"
generate="$(realpath "$2")"
export_bin="$(realpath "$3")"
config="$(realpath "$4")"
data="$(cd "${GPT_DATA_DIR:-$5}/tinystories" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
mutate() { /usr/bin/python3 "$here/hf_mutate.py" "$@"; }
train_tiny() {
  "$train" "$config" --data.train="$data/TinyStories-train-sample.bin" --data.val="$data/TinyStories-valid-sample.bin" \
    --eval.interval=0 --log.tensorboard=false "$@"
}

# Exit code 2 and exactly one stderr line, "error: ..." containing each further argument.
expect_bad_input() {
  local what="$1"
  shift
  expect_refusal "$what" "$@" -- timeout -k 5 60 "${command[@]}"
}

# 1. A tiny run, exported.
train_tiny --run.dir=run --train.max_steps=12 >train.log 2>&1 || { cat train.log; fail "train exited"; }
"$export_bin" --run-dir run --hf-out hf >export.log 2>&1 || fail "export exited $?: $(cat export.log)"
grep -q 'step 12' export.log || fail "export does not name the checkpoint's step: $(cat export.log)"
for f in config.json model.safetensors vocab.json merges.txt tokenizer_config.json; do
  [[ -s hf/$f ]] || fail "export wrote no hf/$f"
done
cmp -s hf/vocab.json "$data/../gpt2/encoder.json" || fail "vocab.json is not GPT-2's encoder.json"
cmp -s hf/merges.txt "$data/../gpt2/vocab.bpe" || fail "merges.txt is not GPT-2's vocab.bpe"

# 2. generate --hf: the same greedy text as from the checkpoint.
"$generate" --run-dir run --prompt "Once upon a time" --temperature 0 --max-new-tokens 24 >from_run.txt 2>/dev/null ||
  fail "generate --run-dir exited $?"
"$generate" --hf hf --prompt "Once upon a time" --temperature 0 --max-new-tokens 24 >from_hf.txt 2>gen.err ||
  fail "generate --hf exited $?: $(cat gen.err)"
cmp -s from_run.txt from_hf.txt || fail "generate --hf differs from --run-dir: $(cat from_hf.txt) / $(cat from_run.txt)"
grep -q 'Hugging Face GPT-2' gen.err || fail "generate --hf does not say what it read: $(cat gen.err)"

# 3. train --init-from hf: fine-tunes from the folder: its step 0 validation loss is the exported model's.
train_tiny --run.dir=run_at_12 --train.max_steps=13 --eval.interval=13 --eval.batches=2 \
  --init-from="$(pwd)/run/checkpoints/step_00000012.h5" >ours.log 2>&1 || fail "init-from our checkpoint exited $?"
train_tiny --run.dir=ft --train.max_steps=13 --eval.interval=13 --eval.batches=2 --init-from=hf:hf >ft.log 2>&1 ||
  fail "train --init-from hf:hf exited $?: $(tail -3 ft.log)"
grep -q 'init-from: .* parameter tensors from the Hugging Face GPT-2 folder hf (F32)' ft.log ||
  fail "train does not report the import: $(head -5 ft.log)"
grep -q 'padded with zero rows to 50304' ft.log || fail "train does not report the vocabulary's padding"
ours_val=$(grep -o '^step  0/13 | val_loss [0-9.]*' ours.log || true)
hf_val=$(grep -o '^step  0/13 | val_loss [0-9.]*' ft.log || true)
[[ -n $hf_val && $hf_val == "$ours_val" ]] ||
  fail "step 0 from the HF folder ($hf_val) is not step 0 from the checkpoint it was exported from ($ours_val)"

# A requeued fine-tuning job: with checkpoint.resume = auto, --init-from starts the run and its own
# checkpoint continues it.
train_tiny --run.dir=requeue --train.max_steps=2 --checkpoint.resume=auto --init-from=hf:hf >rq1.log 2>&1 ||
  fail "first start of a requeued job exited $?: $(tail -3 rq1.log)"
grep -q 'parameter tensors from the Hugging Face GPT-2 folder' rq1.log || fail "the first start did not import"
train_tiny --run.dir=requeue --train.max_steps=4 --checkpoint.resume=auto --init-from=hf:hf >rq2.log 2>&1 ||
  fail "the requeued start exited $?: $(tail -3 rq2.log)"
grep -q '^resumed at step 2' rq2.log && grep -q '^init-from: not used, checkpoint.resume = auto' rq2.log ||
  fail "the requeued start did not resume from its checkpoint: $(head -8 rq2.log)"

# 4. Broken folders: each refused by train --init-from and generate --hf, naming file and tensor or key.
broken() { rm -rf "$1" && cp -r hf "$1"; }
check_both() {
  local folder="$1"
  shift
  command=("$train" "$config" --data.train="$data/TinyStories-train-sample.bin"
    --data.val="$data/TinyStories-valid-sample.bin" --run.dir=refused --init-from="hf:$folder")
  expect_bad_input "train --init-from hf:$folder" "$@"
  command=("$generate" --hf "$folder" --prompt "Once")
  expect_bad_input "generate --hf $folder" "$@"
}
broken no_config && rm no_config/config.json
check_both no_config "no_config/config.json is missing"
broken truncated && truncate -s -1000 truncated/model.safetensors
check_both truncated "truncated/model.safetensors: tensor" "run past the data's"
broken lying && mutate lying/model.safetensors lie-offsets transformer.h.2.mlp.c_fc.weight
check_both lying "lying/model.safetensors: tensor transformer.h.2.mlp.c_fc.weight: data_offsets" "a header that lies"
broken shaped && mutate shaped/model.safetensors shape transformer.h.1.attn.c_attn.weight
check_both shaped "shaped/model.safetensors: tensor transformer.h.1.attn.c_attn.weight has shape (127, 384)" \
  "need (128, 384)"
broken wide && mutate wide/model.safetensors f64 transformer.h.3.ln_2.weight
check_both wide "wide/model.safetensors: tensor transformer.h.3.ln_2.weight is F64"
broken not_json && printf '{"model_type": "gpt2", ' >not_json/config.json
check_both not_json "not_json/config.json: not valid JSON"
# Sizes no machine holds: refused from config.json alone, naming the key (train: it does not fit
# the run's model; generate: the model is too large), never bad_alloc or the OOM killer.
broken huge && mutate huge/config.json set n_layer 1000000000
check_both huge "huge/config.json" "n_layer" "1000000000"
for key in n_embd n_positions vocab_size; do
  broken "huge_$key" && mutate "huge_$key/config.json" set "$key" 1099511627776
  check_both "huge_$key" "huge_$key/config.json: $key is 1099511627776, not an integer from 1 to 4294967296"
done
# A FIFO where a file belongs: refused at once (opening it would wait for a writer forever).
for file in config.json model.safetensors; do
  broken "fifo_$file" && rm "fifo_$file/$file" && mkfifo "fifo_$file/$file"
  check_both "fifo_$file" "fifo_$file/$file is not a regular file (a FIFO)"
done
[[ -e refused ]] && fail "a refused train --init-from hf: left its run folder behind: $(ls -A refused)"
command=("$train" "$config" --data.train="$data/TinyStories-train-sample.bin"
  --data.val="$data/TinyStories-valid-sample.bin" --run.dir=refused --model.n_embd=64 --init-from=hf:hf)
expect_bad_input "init-from into another shape" "hf/config.json does not fit the run's model" \
  "n_embd is 128, the run's model.n_embd is 64"
[[ -e refused/checkpoints ]] && ls refused/checkpoints | grep -q . && fail "a refused run wrote checkpoints"

# 5. Models GPT-2 cannot represent are not exported; a bad --dtype is a command-line error.
train_tiny --run.dir=swiglu --model.activation=swiglu --train.max_steps=1 >/dev/null 2>&1 || fail "swiglu run exited $?"
command=("$export_bin" --run-dir swiglu --hf-out swiglu_hf)
expect_bad_input "export swiglu" 'model.activation = "swiglu"' "cannot be exported as GPT-2"
[[ -e swiglu_hf ]] && fail "a refused export left swiglu_hf behind"
train_tiny --run.dir=rope --model.positions=rope --model.norm=rmsnorm --train.max_steps=1 >/dev/null 2>&1 ||
  fail "rope run exited $?"
command=("$export_bin" --run-dir rope --hf-out rope_hf)
expect_bad_input "export rope" 'model.positions = "rope"' 'model.norm = "rmsnorm"'
[[ -e rope_hf ]] && fail "a refused export left rope_hf behind"
train_tiny --run.dir=nobias --model.bias=false --train.max_steps=1 >/dev/null 2>&1 || fail "bias=false run exited $?"
command=("$export_bin" --run-dir nobias --hf-out nobias_hf)
expect_bad_input "export bias=false" "model.bias = false"
command=("$export_bin" --run-dir run --hf-out x --dtype float8)
expect_bad_input "export --dtype float8" "--dtype"
command=("$export_bin" --run-dir nowhere --hf-out x)
expect_bad_input "export from a folder without checkpoints" "no valid checkpoint"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "hf_cli: export, generate --hf, train --init-from hf:, and every refusal as expected"
