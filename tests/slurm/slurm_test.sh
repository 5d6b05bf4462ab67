#!/usr/bin/env bash
# A real Slurm job on this machine: starts a private munged, slurmctld and slurmd (Debian's
# packages) on their own ports with their state in a temp dir, submits
# launch/slurm/train-1node.sbatch for 2 ranks (srun --mpi=pmix) and
# launch/slurm/train-multinode.sbatch on one node with GPT_LAUNCHER=mpirun, waits for both to
# complete, checks each run's metrics.jsonl, and stops everything it started.
#
#   tests/slurm/slurm_test.sh TRAIN_BIN SOURCE_DIR DATA_DIR [STEPS]
#
# $GPT_DATA_DIR, when set, is used instead of DATA_DIR.
# GPT_SLURM_TEST_KEEP=1 keeps the temp dir (slurm.conf, daemon logs, job output, runs).
#
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, Slurm or munge not installed or not starting).
set -uo pipefail
source "$(dirname "$(readlink -f "$0")")/slurm_lib.sh"

if (($# < 3)); then
  echo "usage: $0 TRAIN_BIN SOURCE_DIR DATA_DIR [STEPS]" >&2
  exit 2
fi
train_bin="$(readlink -f "$1")"
source_dir="$(readlink -f "$2")"
data_dir="$(readlink -f "${GPT_DATA_DIR:-$3}")"
steps="${4:-3}"
jobs_timeout_s=240  # both jobs together; ctest's TIMEOUT must be above this plus 60 s

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAILED: $*"
  exit 1
}

# --- what the test needs ------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || skip "needs root to run slurmd and munged as their users"
missing="$(slurm_missing)"
[[ -z "$missing" ]] || skip "$missing"
[[ -x "$train_bin" ]] || fail "no train binary at $train_bin"
sample_data "$data_dir" || fail "no TinyStories sample in $data_dir"
forget_surrounding_slurm

tmp="$(mktemp -d -t gpt-slurm-test.XXXXXX)"
chmod 755 "$tmp"  # munged (user munge) must reach its folder inside
conf="$tmp/slurm.conf"
munged_pid="" ctld_pid="" slurmd_pid=""

# --- cleanup: always, whatever happened --------------------------------------------------
ours() {  # processes started under our slurm.conf: slurmstepd, the job's srun, mpirun and ranks
  local env pid var  # (bash only: a helper process would carry SLURM_CONF itself)
  for env in /proc/[0-9]*/environ; do
    pid="${env#/proc/}"
    pid="${pid%/environ}"
    while IFS= read -r -d '' var; do
      if [[ "$var" == "SLURM_CONF=$conf" ]]; then echo "$pid"; break; fi
    done 2>/dev/null <"$env"
  done
}
show_logs() {
  local f
  for f in "$tmp"/log/* "$tmp"/job-*.out; do
    [[ -f "$f" ]] || continue
    echo "----- ${f#"$tmp"/} (last 30 lines) -----"
    tail -n 30 "$f"
  done
}
cleanup() {
  local rc=$? pid comm i busy
  trap - EXIT INT TERM
  if [[ -n "$ctld_pid" ]] && kill -0 "$ctld_pid" 2>/dev/null; then
    scancel --quiet --user=root 2>/dev/null
    for ((i = 0; i < 50; i++)); do
      [[ -z "$(squeue -h 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
  ((rc == 0 || rc == 77)) || show_logs
  for ((i = 0; i < 50; i++)); do  # let the jobs' slurmstepd finish on their own
    busy=0
    for pid in $(ours); do  # the daemons and their helpers (slurmscriptd) do not count
      read -r comm <"/proc/$pid/comm" 2>/dev/null || continue
      [[ "$comm" == slurmctld || "$comm" == slurmd || "$comm" == slurmscriptd ]] || busy=1
    done
    ((busy)) || break
    sleep 0.2
  done
  stop_pid "$slurmd_pid"
  stop_pid "$ctld_pid"
  for pid in $(ours); do kill -KILL "$pid" 2>/dev/null; done
  stop_pid "$munged_pid"
  wait 2>/dev/null
  if [[ -n "${GPT_SLURM_TEST_KEEP:-}" ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- munged: a private key and socket, as user munge ----------------------------------------
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/runs"
start_munged "$tmp/munge" "$tmp/log/munged.log" || skip "$munge_problem"
socket="$munge_socket"
export SLURM_CONF="$conf"  # every Slurm command and daemon from here on uses our cluster

# --- slurm.conf: one node (this machine as localhost), no cgroups, no accounting ------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {  # a free port below Linux's ephemeral range, not equal to $1
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12000))
    [[ "$p" != "${1:-}" ]] && port_free "$p" && { echo "$p"; return 0; }
  done
  return 1
}
ctld_port="$(pick_port)" || skip "no free port"
slurmd_port="$(pick_port "$ctld_port")" || skip "no free port"
cpus="$(nproc)"
cat >"$conf" <<EOF
ClusterName=gpttest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
ReturnToService=2
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
write_cgroup_conf "$tmp/cgroup.conf"

slurmctld -D -f "$conf" >"$tmp/log/slurmctld.log" 2>&1 &
ctld_pid=$!
slurmd -D -N localhost -f "$conf" >"$tmp/log/slurmd.log" 2>&1 &
slurmd_pid=$!
state=""
for ((i = 0; i < 300; i++)); do  # up to 30 s
  state="$(sinfo -h -n localhost -o %T 2>/dev/null)"
  [[ "$state" == idle ]] && break
  if ! kill -0 "$ctld_pid" 2>/dev/null || ! kill -0 "$slurmd_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [[ "$state" != idle ]]; then
  tail -n 5 "$tmp/log/slurmctld.log" "$tmp/log/slurmd.log"
  skip "slurmctld/slurmd did not bring the node up (state '${state:-none}')"
fi
srun --mpi=list 2>&1 | grep -qw pmix || skip "Slurm's pmix plugin is missing (srun --mpi=list)"
echo "slurm up in $SECONDS s (ports $ctld_port/$slurmd_port, $cpus CPUs)"

# --- the jobs -------------------------------------------------------------------------------
export GPT_TRAIN_BIN="$train_bin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS  # the batch scripts pick CPUs / ranks
# tiny.toml's 1024-token batch is one micro-batch of 8x128: over 2 ranks that is 4x128 each.
train_args=("$source_dir/configs/tiny.toml" "--data.train=$train_data" "--data.val=$val_data"
  "--train.micro_batch=4" "--train.max_steps=$steps" "--eval.interval=0" "--log.interval=1")

submit() {  # submit NAME SCRIPT [sbatch options...]: prints the job id
  local name="$1" script="$2"
  shift 2
  sbatch --parsable --job-name="$name" --time=10 --chdir="$tmp" --output="$tmp/job-$name.out" \
    "$@" "$source_dir/launch/slurm/$script" "${train_args[@]}" "--run.dir=$tmp/runs/$name"
}
# Sets st and ec to the job's final state and exit code (EXIT:SIGNAL). Runs in this shell, not
# in $(...), so that a signal to the test is handled within half a second.
wait_job() {
  local id="$1" info
  while ((SECONDS < deadline)); do
    info="$(scontrol show job -o "$id" 2>/dev/null)"
    [[ "$info" =~ JobState=([A-Z_]+) ]] && st="${BASH_REMATCH[1]}" || st=""
    [[ "$info" =~ (^|\ )ExitCode=([0-9]+:[0-9]+) ]] && ec="${BASH_REMATCH[2]}" || ec=""
    case "$st" in
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | "") sleep 0.5 ;;
      *) return 0 ;;
    esac
  done
  st="TIMEOUT(test)" ec="-"
}
id1="$(submit srun-2ranks train-1node.sbatch --ntasks=2)" || fail "sbatch train-1node.sbatch"
id2="$(GPT_LAUNCHER=mpirun submit mpirun-2ranks train-multinode.sbatch --nodes=1 --ntasks-per-node=2)" ||
  fail "sbatch train-multinode.sbatch"
echo "submitted jobs $id1 (train-1node, srun) and $id2 (train-multinode, mpirun)"

status=0
deadline=$((SECONDS + jobs_timeout_s))
for job in "$id1:srun-2ranks" "$id2:mpirun-2ranks"; do
  id="${job%%:*}"
  name="${job#*:}"
  wait_job "$id"
  if [[ "$st" != COMPLETED || "$ec" != 0:0 ]]; then
    echo "job $id ($name): $st, exit code $ec"
    status=1
    continue
  fi
  if ! problems="$(check_metrics "$tmp/runs/$name/metrics.jsonl" 1 "$steps")"; then
    echo "job $id ($name): metrics.jsonl: $problems"
    status=1
    continue
  fi
  # Rank 0 alone prints: two "model:" lines mean two ranks that each thought they were alone.
  printers="$(grep -c '^model:' "$tmp/job-$name.out")"
  if [[ "$printers" != 1 ]]; then
    echo "job $id ($name): $printers ranks printed the model line (want 1: MPI not initialised?)"
    status=1
    continue
  fi
  echo "job $id ($name): COMPLETED, $steps steps with finite losses"
  grep -m1 '^run:' "$tmp/job-$name.out"
done
((status == 0)) || fail "see the job output above"
echo "PASSED in $SECONDS s"
