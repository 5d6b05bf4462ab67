#!/usr/bin/env bash
# Several hosts for real, on one machine: hosts.sh makes node1 and node2 (network namespaces on a
# bridge, each with its own hostname and its own disk at $MN_STATE/local), and OpenMPI's mpirun on
# node1 starts one train rank per host over TCP, reaching node2 through host-agent in place of ssh.
#
#   tests/multinode/mpirun_test.sh MODE TRAIN_BIN CONFIG DATA_DIR   ($GPT_DATA_DIR, when set, wins)
#
#   equivalence  2 hosts x 1 rank log the same losses and end with the same parameters and moments
#                (1e-6) as 2 ranks on one host and as 1 rank accumulating both micro-batches
#   resume       only node1's disk has the checkpoints: --checkpoint.resume=auto continues on
#                both hosts (rank 0 reads and sends), and ends bit for bit where the run left
#                alone ended; broadcast_resume = never fails naming rank 1; a shared run.dir is
#                read by every rank
#   kill | cut   node2 is lost mid-run (every process in it SIGKILLed / its link cut): the job
#                ends non-zero within 60 s naming node2 or rank 1; once node2 is back,
#                --checkpoint.resume=auto continues from the newest checkpoint, which is intact
#
# Exit codes: 0 pass, 1 fail, 77 skipped (no root, no network namespaces, no OpenMPI).
# GPT_MULTINODE_KEEP=1 keeps the hosts' files ($MN_STATE) for a post-mortem.
set -uo pipefail
mode=$1 train=$(readlink -f "$2") config=$(readlink -f "$3") data=$(readlink -f "${GPT_DATA_DIR:-$4}")
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/hosts.sh"

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
problem="$(mn_probe)"
[[ -z "$problem" ]] || skip "$problem"
command -v mpirun >/dev/null || skip "mpirun not installed (Debian: openmpi-bin)"
/usr/bin/python3 -c "import h5py, numpy" 2>/dev/null || skip "no h5py for /usr/bin/python3 (Debian: python3-h5py)"
[[ -x "$train" ]] || fail "no train binary at $train"

trap 'mn_down' EXIT
trap 'exit 1' INT TERM
mn_up node1 node2 || fail "could not make the hosts"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
local_dir="$MN_STATE/local"  # each host's own disk
shared_dir="$MN_STATE/shared"  # the same folder on every host
mkdir -p "$shared_dir"

small=(--model.n_layer=2 --model.n_embd=64 --model.n_head=2 --model.block_size=64 --train.seq_len=64
  --train.micro_batch=2 --train.batch_tokens=256 --model.dropout=0.1 --optim.warmup_steps=3
  --eval.batches=2 --eval.interval=0 --log.interval=1 --checkpoint.keep_last=0
  --data.train="$data/tinystories/TinyStories-train-sample.bin"
  --data.val="$data/tinystories/TinyStories-valid-sample.bin")

# mpirun as README's "Several nodes" shows it: TCP between hosts, no shared memory, the launcher's
# agent in place of ssh, and TCP keepalive on the launcher's own connections so that mpirun
# notices a silent host within 10 + 3 x 5 s (its default waits 300 s, then 9 probes 20 s apart).
# That must come before dist.timeout_s (40 s below): once a rank has given up and aborted, mpirun
# has data in flight to the lost host, keepalive no longer applies, and only TCP's retransmission
# limit (about 15 minutes) would end mpirun.
mpi_across=(--mca plm_rsh_agent "$MN_AGENT" --mca plm_rsh_no_tree_spawn 1
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24
  --mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 5 --mca oob_tcp_keepalive_probes 3
  -x MN_STATE -x MN_PREFIX -x OMP_NUM_THREADS --bind-to none)
limit=120  # seconds any one run may take
two_hosts() {  # LOG [train args...]: one rank on node1, one on node2; mpirun runs on node1
  local log=$1
  shift
  mn_run node1 timeout -k 5 "$limit" mpirun --host node1,node2 -np 2 "${mpi_across[@]}" "$train" "$config" "${small[@]}" "$@" >>"$log" 2>&1
}
one_host() {  # LOG [train args...]: two ranks on node1 (shared memory between them)
  local log=$1
  shift
  mn_run node1 timeout -k 5 "$limit" mpirun --host node1:2 -np 2 --bind-to none "$train" "$config" "${small[@]}" "$@" >>"$log" 2>&1
}
single() {  # LOG [train args...]: one rank, both micro-batches accumulated
  local log=$1
  shift
  mn_run node1 timeout -k 5 "$limit" "$train" "$config" "${small[@]}" "$@" >>"$log" 2>&1
}
# Host paths of node1's and node2's disks (what $local_dir shows on each).
disk() { echo "$MN_STATE/disk/$1"; }

losses() {  # metrics.jsonl -> "step loss" lines, the last entry of each step
  /usr/bin/python3 -c 'import json,sys
seen = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    if "loss" in j: seen[j["step"]] = j["loss"]
for s in sorted(seen): print(s, repr(seen[s]))' "$1"
}
same_losses() {  # A B TOLERANCE(relative): the steps both logged agree
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys
def read(p): return {int(s): float(v) for s, v in (l.split() for l in open(p))}
a, b, tol = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
if not a or set(a) != set(b): sys.exit(f"steps differ: {sorted(a)} vs {sorted(b)}")
worst = max(abs(a[s] - b[s]) / max(1.0, abs(a[s])) for s in a)
print(f"{len(a)} steps, largest relative loss difference {worst:.3g}")
sys.exit(0 if worst <= tol else f"losses differ by {worst:.3g} > {tol}")
PY
}
same_tensors() {  # A.h5 B.h5 TOLERANCE: parameters and moments agree (0: bit for bit)
  /usr/bin/python3 "$here/same_tensors.py" "$@"
}

case $mode in
equivalence)
  steps=(--train.max_steps=8)
  two_hosts "$MN_STATE/across.log" "${steps[@]}" --run.dir="$local_dir/across" || fail "2 hosts: $(tail -n 20 "$MN_STATE/across.log")"
  grep -q 'run: 2 ranks (mpi)' "$MN_STATE/across.log" || fail "2 hosts did not run as 2 ranks: $(cat "$MN_STATE/across.log")"
  one_host "$MN_STATE/one.log" "${steps[@]}" --run.dir="$local_dir/one" || fail "1 host: $(tail -n 20 "$MN_STATE/one.log")"
  single "$MN_STATE/single.log" "${steps[@]}" --run.dir="$local_dir/single" || fail "1 rank: $(tail -n 20 "$MN_STATE/single.log")"
  d1="$(disk node1)"
  [[ ! -e "$(disk node2)/across/checkpoints/step_00000008.h5" ]] || fail "rank 1 wrote a checkpoint on node2"
  for run in across one single; do losses "$d1/$run/metrics.jsonl" >"$MN_STATE/$run.losses"; done
  # Equal but untrained would prove nothing: the loss must have fallen.
  awk 'NR == 1 { first = $2 } END { exit !($2 < first - 0.1) }' "$MN_STATE/across.losses" ||
    fail "the loss did not fall: $(tr '\n' ' ' <"$MN_STATE/across.losses")"
  same_losses "$MN_STATE/across.losses" "$MN_STATE/one.losses" 1e-6 || fail "2 hosts vs 2 ranks on 1 host"
  same_losses "$MN_STATE/across.losses" "$MN_STATE/single.losses" 1e-6 || fail "2 hosts vs 1 rank accumulating"
  final=checkpoints/step_00000008.h5
  same_tensors "$d1/across/$final" "$d1/one/$final" 1e-6 || fail "parameters: 2 hosts vs 2 ranks on 1 host"
  same_tensors "$d1/across/$final" "$d1/single/$final" 1e-6 || fail "parameters: 2 hosts vs 1 rank accumulating"
  echo "2 hosts x 1 rank = 2 ranks on 1 host = 1 rank accumulating (losses and tensors within 1e-6)"
  ;;
resume)
  # The run left alone, checkpoints at 4, 8, 12 on node1's disk only.
  run=(--train.max_steps=12 --checkpoint.interval=4)
  two_hosts "$MN_STATE/whole.log" "${run[@]}" --run.dir="$local_dir/run" || fail "whole run: $(tail -n 20 "$MN_STATE/whole.log")"
  d1="$(disk node1)/run/checkpoints"
  [[ -f "$d1/step_00000012.h5" && ! -e "$(disk node2)/run/checkpoints/step_00000004.h5" ]] ||
    fail "want checkpoints on node1's disk only"
  cp "$d1/step_00000012.h5" "$MN_STATE/whole-12.h5"
  losses "$(disk node1)/run/metrics.jsonl" | awk '$1 > 4' >"$MN_STATE/whole.losses"
  rm "$d1/step_00000008.h5" "$d1/step_00000012.h5"  # as if the run had died after step 4

  # Every rank reading for itself cannot work here: rank 1 is named, with the file it lacks.
  two_hosts "$MN_STATE/never.log" "${run[@]}" --run.dir="$local_dir/run" --checkpoint.resume=auto \
    --checkpoint.broadcast_resume=never && fail "broadcast_resume=never resumed without the file on node2"
  grep -q "^error: rank 1: .*step_00000004.h5" "$MN_STATE/never.log" ||
    fail "broadcast_resume=never: no error naming rank 1 and the file: $(tail -n 5 "$MN_STATE/never.log")"

  two_hosts "$MN_STATE/resumed.log" "${run[@]}" --run.dir="$local_dir/run" --checkpoint.resume=auto ||
    fail "resume: $(tail -n 20 "$MN_STATE/resumed.log")"
  grep -q "resumed at step 4 (read .*step_00000004.h5.* by rank 0, sent to ranks 1 (checkpoint.broadcast_resume = auto))" \
    "$MN_STATE/resumed.log" || fail "the resume did not say rank 0 sent it: $(grep -m3 resum "$MN_STATE/resumed.log")"
  same_tensors "$MN_STATE/whole-12.h5" "$d1/step_00000012.h5" 0 || fail "the resumed run ended elsewhere"
  # metrics.jsonl now holds steps 1-12 and again 5-12; the last of each must match the whole run.
  losses "$(disk node1)/run/metrics.jsonl" | awk '$1 > 4' >"$MN_STATE/resumed.losses"
  same_losses "$MN_STATE/whole.losses" "$MN_STATE/resumed.losses" 0 || fail "the resumed losses differ"
  echo "node-local disks: rank 0 read the step-4 checkpoint and sent it; steps 5-12 bit for bit as the run left alone"

  # A shared run.dir: every rank sees the same file and reads it itself.
  two_hosts "$MN_STATE/shared.log" --train.max_steps=4 --checkpoint.interval=4 --run.dir="$shared_dir/run" ||
    fail "shared run: $(tail -n 20 "$MN_STATE/shared.log")"
  two_hosts "$MN_STATE/shared2.log" --train.max_steps=6 --run.dir="$shared_dir/run" --checkpoint.resume=auto ||
    fail "shared resume: $(tail -n 20 "$MN_STATE/shared2.log")"
  grep -q "resumed at step 4 (read .*step_00000004.h5" "$MN_STATE/shared2.log" &&
    ! grep -q "sent to ranks" "$MN_STATE/shared2.log" ||
    fail "a shared run.dir was not read by every rank: $(grep -m3 resum "$MN_STATE/shared2.log")"
  echo "shared run.dir: every rank read the checkpoint itself"
  ;;
kill | cut)
  run=(--train.max_steps=100000 --checkpoint.interval=20 --checkpoint.keep_last=3 --dist.timeout_s=40
    --run.dir="$local_dir/run")
  metrics="$(disk node1)/run/metrics.jsonl"
  two_hosts "$MN_STATE/lost.log" "${run[@]}" &
  job=$!
  for _ in $(seq 1 1200); do  # until two checkpoints exist: step 45 logged
    grep -q '"step":45,' "$metrics" 2>/dev/null && break
    kill -0 "$job" 2>/dev/null || fail "the run ended early: $(tail -n 20 "$MN_STATE/lost.log")"
    sleep 0.1
  done
  grep -q '"step":45,' "$metrics" || fail "no step 45 within 120 s"
  if [[ $mode == kill ]]; then mn_kill node2; else mn_cut node2; fi
  echo "node2 lost ($mode) after step $(grep -c '"loss"' "$metrics")"
  start=$SECONDS
  while kill -0 "$job" 2>/dev/null && ((SECONDS - start < 60)); do sleep 0.2; done
  if kill -0 "$job" 2>/dev/null; then
    fail "the job still runs 60 s after node2 was lost: $(tail -n 20 "$MN_STATE/lost.log")"
  fi
  wait "$job"
  code=$?
  echo "the job ended with exit code $code after $((SECONDS - start)) s; it said:"
  grep -E 'error|node2|rank 1' "$MN_STATE/lost.log" | head -n 8
  ((code != 0)) || fail "the job exited 0"
  grep -Eq 'node2|rank 1' "$MN_STATE/lost.log" || fail "neither node2 nor rank 1 named"

  # node2 comes back as a rebooted host would: its link up, nothing of the old job left on it.
  left="$(ip netns pids "$(mn_ns node2)" | wc -l)"
  echo "processes of the old job still on node2: $left (gone with the reboot)"
  mn_reboot node2
  newest="$(ls "$(disk node1)/run/checkpoints" | grep -E '^step_[0-9]+\.h5$' | sort | tail -n 1)"
  step=$((10#$(sed -E 's/step_0*([0-9]+)\.h5/\1/' <<<"$newest")))
  two_hosts "$MN_STATE/back.log" "${run[@]}" --train.max_steps=$((step + 5)) --checkpoint.resume=auto ||
    fail "resume after the loss: $(tail -n 20 "$MN_STATE/back.log")"
  grep -q "resumed at step $step (read .*$newest" "$MN_STATE/back.log" ||
    fail "did not resume from $newest: $(grep -m3 -E 'resum|warning' "$MN_STATE/back.log")"
  ! grep -q 'warning' "$MN_STATE/back.log" || fail "a checkpoint was skipped: $(grep warning "$MN_STATE/back.log")"
  echo "after node2 came back: resumed at step $step from $newest, ran to step $((step + 5))"
  ;;
*) fail "unknown mode $mode" ;;
esac
echo PASS
