#!/usr/bin/env bash
# A real two-node Slurm cluster on this machine: hosts node1 and node2 are network namespaces made
# by tests/multinode/hosts.sh (own address, hostname, /etc/hosts and local disk). slurmctld runs
# on node1, one slurmd on each host; jobs are submitted from node1 with
# launch/slurm/train-multinode.sbatch, one rank per node (rank 0 on node1 writes the run).
#
#   tests/multinode/slurm_two_nodes.sh TRAIN_BIN SOURCE_DIR DATA_DIR [launch|loss]
#
# launch (default): two 3-step jobs, by srun --mpi=pmix and by GPT_LAUNCHER=mpirun (mpirun starts
#   its daemon on node2 through Slurm, no ssh); both must complete with sane metrics (~20 s).
# loss: a long job loses node2 once rank 0 logged a few steps, (A) killed (mn_kill: slurmd,
#   slurmstepd and rank 1 die) and (B) cut off (mn_cut: its link goes down, all on it lives on).
#   Each job must end non-zero within $loss_limit_s s of the loss, its output or scontrol naming
#   node2 or rank 1; then node2 comes back and a job with checkpoint.resume=auto and the same
#   run.dir continues from the newest checkpoint (~100 s in all).
#
# Environment:
#   GPT_DATA_DIR                  used instead of DATA_DIR
#   GPT_MULTINODE_KEEP=1          keep the temp dir (slurm.conf, daemon logs, job output, runs)
#   GPT_LAUNCHER=mpirun           the loss jobs' launcher (default srun)
#   GPT_MULTINODE_SHARED_RUN=1    the loss jobs' run.dir on the temp dir both nodes see, instead of
#                                 node1's own disk
#   GPT_MULTINODE_SLURMD_TIMEOUT  slurm.conf's SlurmdTimeout (default 20 here; Slurm's is 300)
#   GPT_MULTINODE_DIST_TIMEOUT    the loss jobs' dist.timeout_s (default 20)
#   GPT_MULTINODE_LOSS_LIMIT      seconds a job may take to end after its loss (default 60)
#
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, no network namespaces, Slurm, munge, OpenMPI
# or Slurm's pmix plugin missing).
set -uo pipefail

if (($# < 3)); then
  echo "usage: $0 TRAIN_BIN SOURCE_DIR DATA_DIR [launch|loss]" >&2
  exit 2
fi
train_bin="$(readlink -f "$1")"
source_dir="$(readlink -f "$2")"
data_dir="$(readlink -f "${GPT_DATA_DIR:-$3}")"
mode="${4:-launch}"
[[ "$mode" == launch || "$mode" == loss ]] || { echo "MODE must be launch or loss, got '$mode'" >&2; exit 2; }

job_timeout_s=90                                 # a job from submission to its end (~10 s)
loss_limit_s="${GPT_MULTINODE_LOSS_LIMIT:-60}"   # a job that lost a node has ended this long after
back_timeout_s=90                                # node2 idle again after it came back (~0-36 s)
# The mode as a whole, once the cluster is up (launch takes ~20 s, loss ~85-135 s). Starting the
# cluster adds up to 30 s, cleanup up to ~40 s: a ctest TIMEOUT of 300 (launch) and 480 (loss)
# is above all of it.
case "$mode" in
  launch) budget_s=200 ;;
  loss) budget_s=400 ;;
esac
slurmd_timeout="${GPT_MULTINODE_SLURMD_TIMEOUT:-20}"
dist_timeout="${GPT_MULTINODE_DIST_TIMEOUT:-20}"
progress_step=6  # the loss comes once rank 0 logged this step (checkpoint.interval=5: one is saved)

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAILED: $*"
  exit 1
}

# --- what the test needs ------------------------------------------------------------------
# Hosts from a surrounding session (hosts.sh exports these) are not ours to take down.
unset MN_STATE MN_PREFIX
sd=""  # the Slurm folder in $MN_STATE, once there is one
source "$source_dir/tests/multinode/hosts.sh" || fail "no $source_dir/tests/multinode/hosts.sh"
source "$source_dir/tests/slurm/slurm_lib.sh" || fail "no $source_dir/tests/slurm/slurm_lib.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, slurmd, munged as user munge)"
why="$(mn_probe)"
[[ -z "$why" ]] || skip "no test hosts: $why"
missing="$(slurm_missing)"
[[ -z "$missing" ]] || skip "$missing"
[[ -x "$train_bin" ]] || fail "no train binary at $train_bin"
sample_data "$data_dir" || fail "no TinyStories sample in $data_dir"
forget_surrounding_slurm

# --- cleanup: always, whatever happened --------------------------------------------------
# Everything Slurm runs (daemons, slurmstepd, srun, mpirun, orted, ranks) lives in the hosts'
# namespaces, so mn_down's kill catches what the orderly stop leaves; munged lives outside.
munged_pid=""
declare -A daemon=()  # slurmctld, slurmd-node1, ...: the pid of the subshell running mn_run
# `mn_run ... &` forks a subshell that runs nsenter, which ends in an exec of the daemon: the
# subshell's one child is the daemon. Stop the daemon; the subshell then ends by itself.
stop_daemon() {  # stop_daemon NAME
  local sub="${daemon[$1]:-}" pid
  [[ -n "$sub" ]] && kill -0 "$sub" 2>/dev/null || return 0
  for pid in $(pgrep -P "$sub"); do stop_pid "$pid"; done
  stop_pid "$sub"
  wait "$sub" 2>/dev/null
}
show_logs() {
  local f
  [[ -n "$sd" ]] || return 0
  for f in "$sd"/log/*.log "$sd"/job-*.out; do
    [[ -f "$f" ]] || continue
    echo "----- ${f#"$MN_STATE"/} (last 30 lines) -----"
    tail -n 30 "$f"
  done
}
cleanup() {
  local rc=$? name i
  # Bounded (about 40 s at worst), so not to be cut short by another Ctrl-C or a closed pipe.
  trap '' INT TERM HUP PIPE
  trap - EXIT
  if [[ -n "${daemon[slurmctld]:-}" ]] && kill -0 "${daemon[slurmctld]}" 2>/dev/null; then
    on1 scancel --quiet --user=root 2>/dev/null
    for ((i = 0; i < 25; i++)); do  # slurmd on a live node ends its steps on its own
      [[ -z "$(on1 squeue -h 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
  if ((interrupted)); then
    echo "interrupted: stopping the jobs, daemons and hosts"
  elif ((rc != 0 && rc != 77)); then
    show_logs
  fi
  for name in "${!daemon[@]}"; do [[ "$name" == slurmctld ]] || stop_daemon "$name"; done
  stop_daemon slurmctld
  mn_down  # SIGKILLs what is left on the hosts, removes them (and $MN_STATE unless kept)
  stop_pid "$munged_pid"
  wait 2>/dev/null
  [[ -n "${GPT_MULTINODE_KEEP:-}" && -n "${MN_STATE:-}" ]] && echo "kept $MN_STATE"
  exit "$rc"
}
interrupted=0
trap cleanup EXIT
trap 'interrupted=1; exit 1' INT TERM HUP PIPE

on1() { mn_run node1 "$@"; }  # Slurm's commands reach slurmctld only from inside the hosts' network

mn_up node1 node2 || fail "mn_up could not make the hosts"
sd="$MN_STATE/slurm"  # seen by both hosts: slurm.conf, munge socket, logs, job output
conf="$sd/slurm.conf"
mkdir -p "$sd/munge" "$sd/state" "$sd/log" "$MN_STATE"/disk/node{1,2}/slurmd
chmod 755 "$sd"

# --- munged: a private key and socket, as user munge ----------------------------------------
# One munged serves both hosts: its socket is a path on the shared file system, and a unix
# socket bound to a path is reached through the file system from any network namespace. Killing
# or cutting node2 leaves it alone, which a real node loss would not (node2's own munged would
# die too), but nothing on node1 talks to node2's munged anyway.
start_munged "$sd/munge" "$sd/log/munged.log" || skip "$munge_problem"
socket="$munge_socket"
export SLURM_CONF="$conf"  # every Slurm command and daemon from here on uses our cluster

# --- slurm.conf: slurmctld on node1, one slurmd per host, no cgroups, no accounting ----------
# Fixed ports: nothing else lives in the hosts' network namespaces.
# SlurmdSpoolDir and SlurmdPidFile are node-local, as on a cluster: $MN_STATE/local is each
# host's own disk. So is TmpFS (default /tmp, which the hosts share): Slurm's pmix plugin makes
# TmpFS/spmix_appdir_UID_JOB.STEP on every node of a step, and in a folder both hosts see the
# second one's step fails to launch ("Cannot create directory ... File exists").
# Node loss (see the loss mode): SlurmdTimeout is how long slurmctld waits for a silent slurmd
# before it sets the node DOWN and ends its jobs (NODE_FAIL); slurmctld pings every
# SlurmdTimeout/3. Until then a job that lost a node stays COMPLETING, even after its batch
# script ended: with Slurm's default of 300 s, for 5 minutes. MessageTimeout bounds each of
# those pings. KillWait is the time between SIGTERM and SIGKILL when a job is ended; srun waits
# KillWait + 2 s for the tasks of a step it ends, then gives up on the lost node's.
# ReturnToService=2 lets a DOWN node that registers again take jobs without an admin's
# `scontrol update nodename=node2 state=resume`.
cat >"$conf" <<EOF
ClusterName=gptmn
SlurmctldHost=node1(10.77.0.11)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$sd/state
SlurmdSpoolDir=$MN_STATE/local/slurmd
SlurmctldPidFile=$sd/slurmctld.pid
SlurmdPidFile=$MN_STATE/local/slurmd.pid
TmpFS=$MN_STATE/local/tmp
SlurmctldLogFile=$sd/log/slurmctld.log
SlurmdLogFile=$sd/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
ReturnToService=2
SlurmdTimeout=$slurmd_timeout
MessageTimeout=5
KillWait=5
NodeName=node1 NodeAddr=10.77.0.11 CPUs=1 State=UNKNOWN
NodeName=node2 NodeAddr=10.77.0.12 CPUs=1 State=UNKNOWN
PartitionName=test Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP
EOF
write_cgroup_conf "$sd/cgroup.conf"

start_slurmd() {  # start_slurmd HOST: slurmd in the foreground on HOST
  mn_run "$1" slurmd -D -N "$1" -f "$conf" >>"$sd/log/slurmd-$1.out" 2>&1 &
  daemon[slurmd-$1]=$!
}
node_state() { on1 sinfo -h -n "$1" -o %T 2>/dev/null; }
wait_idle() {  # wait_idle SECONDS HOST...: each host's node idle in Slurm
  local limit=$((SECONDS + $1)) h state
  shift
  for h in "$@"; do
    while state="$(node_state "$h")" && [[ "$state" != idle ]]; do
      ((SECONDS < limit)) || { echo "node $h is '${state:-unknown}', not idle"; return 1; }
      sleep 0.3
    done
  done
}

on1 slurmctld -D -f "$conf" >"$sd/log/slurmctld.out" 2>&1 &
daemon[slurmctld]=$!
start_slurmd node1
start_slurmd node2
if ! why="$(wait_idle 30 node1 node2)"; then
  tail -n 5 "$sd"/log/slurm*
  skip "slurmctld/slurmd did not bring the nodes up ($why)"
fi
on1 srun --mpi=list 2>&1 | grep -qw pmix || skip "Slurm's pmix plugin is missing (srun --mpi=list)"
echo "slurm up on node1 and node2 in $SECONDS s"

# --- the jobs -------------------------------------------------------------------------------
export GPT_TRAIN_BIN="$train_bin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# OpenMPI's TCP transports on the hosts' network (the only one they have besides lo).
export OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=10.77.0.0/24 OMPI_MCA_oob_tcp_if_include=10.77.0.0/24
export OMP_NUM_THREADS=1  # two ranks on a machine of two cores or more
# tiny.toml's 1024-token batch is one micro-batch of 8x128: over 2 ranks that is 4x128 each.
train_args=("$source_dir/configs/tiny.toml" "--data.train=$train_data" "--data.val=$val_data"
  "--train.micro_batch=4" "--eval.interval=0" "--log.interval=1")

# --no-requeue: a batch job that ends in NODE_FAIL is requeued by default (JobRequeue=1): it goes
# back to PENDING (Reason=BeginTime, Restarts=1) and reruns once nodes are free. The loss mode
# wants to see the job end.
submit() {  # submit NAME RUN_DIR [train options...]: prints the job id
  local name="$1" run_dir="$2"
  shift 2
  on1 sbatch --parsable --job-name="$name" --time=10 --chdir="$sd" --output="$sd/job-$name.out" \
    --nodes=2 --ntasks-per-node=1 --no-requeue \
    "$source_dir/launch/slurm/train-multinode.sbatch" "${train_args[@]}" "--run.dir=$run_dir" "$@"
}
job_info() { on1 scontrol show job -o "$1" 2>/dev/null; }
# Sets st, ec and info to the job's final state, exit code (EXIT:SIGNAL) and scontrol line, and
# t_cg to when it was first seen COMPLETING (its batch script ended; the job is not over until
# every node acknowledged, or was declared DOWN), empty if never.
# Runs in this shell, not in $(...), so that a signal to the test is handled within a second.
wait_job() {  # wait_job ID DEADLINE(in $SECONDS)
  local id="$1" deadline="$2"
  t_cg=""
  ((deadline < end_by)) || deadline=$end_by
  while ((SECONDS < deadline)); do
    info="$(job_info "$id")"
    [[ "$info" =~ JobState=([A-Z_]+) ]] && st="${BASH_REMATCH[1]}" || st=""
    [[ "$info" =~ (^|\ )ExitCode=([0-9]+:[0-9]+) ]] && ec="${BASH_REMATCH[2]}" || ec=""
    [[ "$st" == COMPLETING && -z "$t_cg" ]] && t_cg=$SECONDS ec_cg="$ec"
    case "$st" in
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | "") sleep 0.5 ;;
      *) return 0 ;;
    esac
  done
  st="TIMEOUT(test)" ec="-"
  ((SECONDS < end_by)) || echo "the test's budget of $budget_s s for MODE $mode is spent"
}
# metrics.jsonl: one JSON object per line, steps FIRST..LAST each exactly once with a finite loss.
last_step() {  # the highest step with a loss in a metrics.jsonl (0: none yet)
  sed -n 's/.*"loss".*"step":\([0-9]*\).*/\1/p; s/.*"step":\([0-9]*\).*"loss".*/\1/p' "$1" 2>/dev/null |
    sort -n | tail -n 1 | grep . || echo 0
}
# A finished job: COMPLETED 0:0, steps FIRST..LAST in its metrics, one rank printing.
check_completed() {  # check_completed ID NAME METRICS FIRST LAST
  local id="$1" name="$2" problems printers
  wait_job "$id" $((SECONDS + job_timeout_s))
  [[ "$st" == COMPLETED && "$ec" == 0:0 ]] || { echo "job $id ($name): $st, exit code $ec"; return 1; }
  problems="$(check_metrics "$3" "$4" "$5")" || { echo "job $id ($name): $3: $problems"; return 1; }
  # Rank 0 alone prints: two "model:" lines mean two ranks that each thought they were alone.
  printers="$(grep -c '^model:' "$sd/job-$name.out")"
  [[ "$printers" == 1 ]] || { echo "job $id ($name): $printers ranks printed the model line (want 1)"; return 1; }
  grep -q '^run: 2 ranks' "$sd/job-$name.out" || { echo "job $id ($name): not 2 ranks"; return 1; }
  [[ "$info" =~ NodeList=node\[1-2\] ]] || { echo "job $id ($name): not on node1 and node2"; return 1; }
  # Step 0 is the ranks' (srun) or mpirun's daemon (orted, started by srun): it ran on node2 too.
  grep -q "launch task StepId=$id.0 " "$sd/log/slurmd-node2.log" ||
    { echo "job $id ($name): no step on node2"; return 1; }
  echo "job $id ($name): COMPLETED on node[1-2], steps $4..$5 with finite losses"
}

launch_mode() {
  local id1 id2 t0=$SECONDS status=0
  id1="$(GPT_LAUNCHER=srun submit srun "$MN_STATE/local/run-srun" --train.max_steps=3)" || fail "sbatch (srun)"
  check_completed "$id1" srun "$MN_STATE/disk/node1/run-srun/metrics.jsonl" 1 3 || status=1
  grep -h '^job \|^run:' "$sd/job-srun.out"
  echo "srun job took $((SECONDS - t0)) s"
  t0=$SECONDS
  id2="$(GPT_LAUNCHER=mpirun submit mpirun "$MN_STATE/local/run-mpirun" --train.max_steps=3)" ||
    fail "sbatch (mpirun)"
  check_completed "$id2" mpirun "$MN_STATE/disk/node1/run-mpirun/metrics.jsonl" 1 3 || status=1
  grep -h '^job \|^run:' "$sd/job-mpirun.out"
  echo "mpirun job took $((SECONDS - t0)) s"
  return $status
}

# --- loss mode ----------------------------------------------------------------------------
# Where a loss job's run.dir is, as the job names it and as this script reads it. On node1's own
# disk, rank 1 on node2 sees no checkpoint: the resume is rank 0's to read and send
# (checkpoint.broadcast_resume = auto).
if [[ -z "${GPT_MULTINODE_SHARED_RUN:-}" ]]; then
  run_where="node1's own disk"
  run_dir_of() { echo "$MN_STATE/local/run-$1"; }
  seen_dir_of() { echo "$MN_STATE/disk/node1/run-$1"; }
else
  run_where="the temp dir both nodes see"
  run_dir_of() { echo "$MN_STATE/shared/run-$1"; }
  seen_dir_of() { run_dir_of "$1"; }
fi
last_checkpoint() {  # the step of the newest step_N.h5 in a run folder (0: none)
  local f n=0
  for f in "$1"/checkpoints/step_*.h5; do
    [[ -f "$f" ]] || continue
    f="${f##*/step_}"
    f="${f%.h5}"
    ((10#$f > n)) && n=$((10#$f))
  done
  echo "$n"
}
# One loss: a long job, node2 lost (kill|cut) once rank 0 logged $progress_step steps; the job
# must end non-zero within $loss_limit_s and say which host or rank it lost. Then node2 returns
# and a resumed job continues from the newest checkpoint.
#
# What happens (Slurm 22.05, OpenMPI 4.1, SlurmdTimeout=20, dist.timeout_s=20), measured here:
# - rank 0 waits in its all-reduce (a killed peer's closed TCP connection does not end it) until
#   train's watchdog ends it after dist.timeout_s ("error: rank 0 on node1: a collective ... for
#   the other ranks (1 on node2) ..."); srun (--kill-on-bad-exit) ends the step, waits
#   KillWait + 2 s for node2's task, gives up ("Timed out waiting for job step to complete"), and
#   the batch script ends: COMPLETING ~27 s after the loss, exit code 1:0.
# - The job stays COMPLETING until slurmctld sets node2 DOWN after SlurmdTimeout: FAILED 1:0
#   (Reason=NonZeroExitCode) at ~33 s, or NODE_FAIL (Reason=NodeDown, "srun: error: Node failure
#   on node2") at ~22-26 s when that comes first. Without the watchdog: NODE_FAIL at ~29-37 s.
# - With GPT_LAUNCHER=mpirun a killed node2 ends the batch script within ~2 s ("ORTE has lost
#   communication with a remote daemon ... on node node2", exit code 205); a cut one only with
#   OMPI_MCA_oob_tcp_keepalive_* set, else mpirun waits for its daemon on node2 even after
#   rank 0's MPI_Abort, until slurmctld sets node2 DOWN.
loss_case() {  # loss_case kill|cut
  local how="$1" name="$1" id run seen out lines t_loss t_back took said ckpt state
  run="$(run_dir_of "$name")" seen="$(seen_dir_of "$name")" out="$sd/job-$name.out"
  id="$(submit "$name" "$run" --train.max_steps=100000 --checkpoint.interval=5 \
    "--dist.timeout_s=$dist_timeout")" || fail "sbatch ($name)"
  local deadline=$((SECONDS + job_timeout_s < end_by ? SECONDS + job_timeout_s : end_by))
  while (($(last_step "$seen/metrics.jsonl") < progress_step)); do
    info="$(job_info "$id")"
    [[ "$info" =~ JobState=(PENDING|CONFIGURING|RUNNING) ]] ||
      { echo "job $id ($name) ended before step $progress_step: $info"; return 1; }
    ((SECONDS < deadline)) || { echo "job $id ($name): no step $progress_step in time"; return 1; }
    sleep 0.5
  done
  lines="$(wc -l <"$out")"
  t_loss=$SECONDS
  echo "job $id ($name): at step $(last_step "$seen/metrics.jsonl") node2 is lost: mn_$how node2 ($(date +%T))"
  case "$how" in
    kill) mn_kill node2 ;;
    cut) mn_cut node2 ;;
  esac
  wait_job "$id" $((t_loss + loss_limit_s))
  took=$((SECONDS - t_loss))
  info="$(job_info "$id")"
  echo "job $id ($name): $st, exit code $ec, $took s after the loss${t_cg:+ (COMPLETING from $((t_cg - t_loss)) s, exit code $ec_cg)};" \
    "scontrol: $(grep -o 'JobState=[^ ]* Reason=[^ ]*' <<<"$info")"
  echo "  its output since the loss:"
  tail -n "+$((lines + 1))" "$out" | sed 's/^/    | /'
  # Restore node2 before judging, so that a failure still leaves a cluster to look at. A killed
  # node comes back as from a reboot (empty temporary folder, disk kept) and starts its slurmd; a cut one
  # just gets its link back, with whatever still runs on it.
  case "$how" in
    kill) mn_reboot node2 && start_slurmd node2 ;;
    cut) mn_mend node2 ;;
  esac
  t_back=$SECONDS
  case "$st" in
    COMPLETED | "TIMEOUT(test)") echo "job $id ($name) did not end non-zero within $loss_limit_s s of the loss"; return 1 ;;
  esac
  said="$( (tail -n "+$((lines + 1))" "$out"; grep -o 'Reason=[^ ]*' <<<"$info") |
    grep -E 'node2|task 1|rank 1|10\.77\.0\.12' | head -n 3)"
  [[ -n "$said" ]] || { echo "job $id ($name): nothing names node2 or rank 1"; return 1; }
  echo "  named by: $said" | head -n 1

  # node2 back in service: ReturnToService=2 takes it back when its slurmd registers (after a
  # cut, when slurmctld's next ping of the DOWN node gets through and the step left on node2 has
  # been ended: up to ~35 s).
  while state="$(node_state node2)" && [[ "$state" != idle ]]; do
    ((SECONDS < t_back + back_timeout_s && SECONDS < end_by)) || break
    sleep 0.5
  done
  echo "node2 is '${state:-unknown}' $((SECONDS - t_back)) s after it came back"
  [[ "$state" == idle ]] || { on1 scontrol show node node2 | grep -E 'State|Reason'; return 1; }

  ckpt="$(last_checkpoint "$seen")"
  ((ckpt > 0)) || { echo "job $id ($name): no checkpoint in $seen"; return 1; }
  id="$(submit "$name-resume" "$run" --train.max_steps=$((ckpt + 3)) --checkpoint.interval=5 \
    --checkpoint.resume=auto "--dist.timeout_s=$dist_timeout")" || fail "sbatch ($name-resume)"
  check_completed "$id" "$name-resume" "$seen/metrics.jsonl" $((ckpt + 1)) $((ckpt + 3)) || return 1
  grep -q "^resumed at step $ckpt " "$sd/job-$name-resume.out" ||
    { echo "job $id ($name-resume) did not resume at step $ckpt"; return 1; }
  grep -h '^resumed at' "$sd/job-$name-resume.out"
}

loss_mode() {
  mkdir -p "$MN_STATE/shared"
  echo "loss jobs: launcher ${GPT_LAUNCHER:-srun}, run.dir on $run_where, SlurmdTimeout=$slurmd_timeout," \
    "dist.timeout_s=$dist_timeout"
  local t0=$SECONDS
  loss_case kill || return 1  # node2 may not be back: the cut case would say nothing new
  echo "kill case took $((SECONDS - t0)) s"
  t0=$SECONDS
  loss_case cut || return 1
  echo "cut case took $((SECONDS - t0)) s"
}

end_by=$((SECONDS + budget_s))
case "$mode" in
  launch) launch_mode || fail "see the job output above" ;;
  loss) loss_mode || fail "see the job output above" ;;
esac
echo "PASSED in $SECONDS s"
