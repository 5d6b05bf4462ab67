#!/usr/bin/env bash
# Sets up, builds, turns the TinyStories sample text into GPT-2 tokens with `prepare`, trains the
# tiny config on them (600 steps with dropout 0.1, several minutes on 2 cores), printing the loss
# as it falls and a sample every 200 steps, draws the run's charts with `report`, writes the model
# as a Hugging Face GPT-2 folder with `export`, and ends with a story that `generate` writes from
# the trained model. The sample is the repository's data/sample unless GPT_DATA_DIR names another
# copy. Extra arguments go to train (e.g. --train.max_steps=300 for a quicker look).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
data="${GPT_DATA_DIR:-$(pwd)/data/sample}/tinystories"
tokens="$(pwd)/build/tinystories"
mkdir -p "$tokens"
start=$SECONDS
./build/launch/prepare --input "$data/TinyStories-train-sample.txt" --output "$tokens/train.bin"
./build/launch/prepare --input "$data/TinyStories-valid-sample.txt" --output "$tokens/val.bin"
rm -rf runs/quickstart  # a fresh run each time: generate reads the newest checkpoint there
./build/launch/train configs/tiny.toml --data.train="$tokens/train.bin" --data.val="$tokens/val.bin" \
  --model.dropout=0.1 --train.max_steps=600 --optim.warmup_steps=30 --eval.interval=200 --log.interval=50 \
  --log.sample_interval=200 --run.dir=runs/quickstart "$@"
./build/launch/report runs/quickstart --out runs/quickstart/report
echo "quickstart: charts of the run in runs/quickstart/report/index.html"
./build/launch/export --run-dir runs/quickstart --hf-out runs/quickstart/hf
echo "quickstart: the model as a Hugging Face GPT-2 folder (GPT2LMHeadModel.from_pretrained) in runs/quickstart/hf"
echo "quickstart: a story from the trained model (runs/quickstart):"
./build/launch/generate --run-dir runs/quickstart --prompt "Once upon a time" --max-new-tokens 200
echo "quickstart: tokenized, trained and generated in $((SECONDS - start)) s"
