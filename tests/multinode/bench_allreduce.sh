#!/usr/bin/env bash
# The gradient all-reduce's bandwidth between two hosts (network namespaces on a veth bridge, TCP
# through the kernel: hosts.sh) and, for reference, between two ranks on one host (OpenMPI's shared
# memory), for the tiny and the GPT-2 124M gradient buffers. Root; from the checkout:
#
#   bash tests/multinode/bench_allreduce.sh [REPS]     (bench_allreduce from build/tests/)
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-10}
bench=$(readlink -f "${GPT_BENCH_ALLREDUCE:-build/tests/bench_allreduce}")
[[ -x "$bench" ]] || { echo "no $bench: build the project first" >&2; exit 2; }
source tests/multinode/hosts.sh
problem="$(mn_probe)"
[[ -z "$problem" ]] || { echo "cannot make hosts here: $problem" >&2; exit 2; }
trap mn_down EXIT
mn_up node1 node2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
configs=("$PWD/configs/tiny.toml" "$PWD/configs/gpt2-124m.toml")
echo "== 2 hosts x 1 rank, TCP over a veth bridge (btl tcp) =="
mn_run node1 mpirun --host node1,node2 -np 2 --bind-to none --mca plm_rsh_agent "$MN_AGENT" \
  --mca plm_rsh_no_tree_spawn 1 --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
  --mca oob_tcp_if_include 10.77.0.0/24 -x MN_STATE -x MN_PREFIX "$bench" --reps "$reps" "${configs[@]}"
echo "== 1 host x 2 ranks, shared memory (btl vader) =="
mn_run node1 mpirun --host node1:2 -np 2 --bind-to none "$bench" --reps "$reps" "${configs[@]}"
echo "(machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
