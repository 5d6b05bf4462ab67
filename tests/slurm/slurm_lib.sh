#!/usr/bin/env bash
# What the Slurm tests share (tests/slurm/slurm_test.sh, tests/multinode/slurm_two_nodes.sh):
# what they need, a private munged, the cgroup.conf that keeps cgroups out, stopping a daemon, and
# the check of a job's metrics. Source it; it defines functions only.

# slurm_missing: why the Slurm tests cannot run here (empty: they can).
slurm_missing() {
  local cmd
  for cmd in munged slurmctld slurmd sbatch scontrol sinfo squeue scancel srun mpirun setpriv; do
    command -v "$cmd" >/dev/null || { echo "$cmd not installed (Debian: slurm-wlm munge openmpi-bin)"; return; }
  done
  id munge >/dev/null 2>&1 || echo "no user munge (Debian's munge package creates it)"
}

# sample_data DATA_DIR: sets train_data and val_data to the TinyStories sample's token files;
# returns 1 when they are not there.
sample_data() {
  train_data="$1/tinystories/TinyStories-train-sample.bin"
  val_data="$1/tinystories/TinyStories-valid-sample.bin"
  [[ -f "$train_data" && -f "$val_data" ]]
}

# forget_surrounding_slurm: nothing from a surrounding Slurm job (CI on a cluster) may leak into
# the test's own cluster.
forget_surrounding_slurm() {
  local v
  while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM|SBATCH|SRUN|SALLOC)_')
}

stop_pid() {  # stop_pid PID: TERM, up to 10 s, then KILL
  local pid="$1" i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
}

# start_munged DIR LOG: munged as user munge with a new key and its socket in DIR (made reachable
# by everyone), logging to LOG. Sets munged_pid and munge_socket; on failure sets munge_problem
# and returns 1 (the caller skips: a machine without a working munge cannot run Slurm). Call it
# in the script's own shell, not in $(...): munged_pid must reach the caller's clean-up.
start_munged() {
  local dir="$1" log="$2" key="$1/munge.key" i
  munge_socket="$dir/munge.socket"
  mkdir -p "$dir"
  chown munge:munge "$dir"
  chmod 755 "$dir"  # the socket's folder must be reachable by everyone
  if command -v mungekey >/dev/null; then
    setpriv --reuid=munge --regid=munge --init-groups mungekey --create --keyfile="$key" ||
      { munge_problem="mungekey could not create a key"; return 1; }
  else
    dd if=/dev/urandom of="$key" bs=1024 count=1 status=none && chown munge:munge "$key"
  fi
  chmod 600 "$key"
  setpriv --reuid=munge --regid=munge --init-groups \
    munged --foreground --socket="$munge_socket" --key-file="$key" --log-file="$log" \
    --pid-file="$dir/munged.pid" --seed-file="$dir/munged.seed" >/dev/null 2>&1 &
  munged_pid=$!
  for ((i = 0; i < 50; i++)); do
    [[ -S "$munge_socket" ]] && return 0
    kill -0 "$munged_pid" 2>/dev/null || break
    sleep 0.1
  done
  munge_problem="munged did not start: $(tail -n 3 "$log" 2>/dev/null | tr '\n' ' ')"
  return 1
}

# write_cgroup_conf FILE: cgroups stay off (proctrack/linuxproc, task/none); should slurmd load
# the plugin anyway, it must not ask systemd for a scope. Slurm >= 23.02 can switch it off.
write_cgroup_conf() {
  local major
  major="$(slurmd -V | sed -E 's/.* ([0-9]+)\..*/\1/')"
  if ((major >= 23)); then echo "CgroupPlugin=disabled" >"$1"; else echo "IgnoreSystemd=yes" >"$1"; fi
}

# check_metrics FILE FIRST LAST: metrics.jsonl holds one JSON object per line, and steps
# FIRST..LAST each exactly once with a finite loss (none after LAST). Prints what is wrong.
check_metrics() {
  local file="$1"
  [[ -s "$file" ]] || { echo "no $file"; return 1; }
  awk -v first="$2" -v last="$3" '
    !/^\{.*\}$/ { print "line " NR " is not one JSON object: " $0; bad = 1; next }
    !/"loss":/ { next }
    {
      if (!match($0, /"step":[0-9]+/)) { print "line " NR " has no step"; bad = 1; next }
      s = substr($0, RSTART + 7, RLENGTH - 7) + 0
      match($0, /"loss":[^,}]*/); v = substr($0, RSTART + 7, RLENGTH - 7)
      if (v !~ /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/) { print "step " s ": loss " v " is not finite"; bad = 1 }
      if (s >= first) seen[s]++
    }
    END {
      for (s = first; s <= last; s++)
        if (seen[s] != 1) { print "step " s " appears " seen[s] + 0 " times (want 1)"; bad = 1 }
      for (s in seen) if (s > last) { print "unexpected step " s; bad = 1 }
      exit bad
    }' "$file"
}
