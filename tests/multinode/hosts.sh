#!/usr/bin/env bash
# Test hosts on this machine: each a Linux network namespace with its own address, hostname,
# /etc/hosts, /dev/shm, local disk and temporary folder ($TMPDIR, on that disk), joined by veth pairs to a bridge that lives in a
# namespace of its own (nothing is added to the machine's network; traffic stays between these
# namespaces). Everything else (binaries, data, /root) is shared, as on a cluster's shared home.
#
# Source it, then:
#   mn_up NAME...        make the hosts (state in $MN_STATE, a new temp dir; names unique to it)
#   mn_run HOST CMD...   run CMD on HOST: its network, hostname, /etc/hosts, its own /dev/shm,
#                        $MN_STATE/local showing HOST's own disk ($MN_STATE/disk/HOST), and
#                        TMPDIR=$MN_STATE/local/tmp (OpenMPI's session folders, PMIx's files).
#                        /tmp itself stays shared: a checkout under /tmp must stay visible.
#   mn_kill HOST         SIGKILL every process in HOST's network namespace
#   mn_cut HOST / mn_mend HOST   take HOST's link down / up again (on the bridge's side)
#   mn_reboot HOST       what a reboot leaves: no processes, an empty $TMPDIR and /dev/shm, the
#                        link up, the disk kept
#   mn_down              kill what runs on the hosts and remove everything mn_up made
#   mn_probe             why these hosts cannot be made here (empty output: they can)
# $MN_AGENT is the command OpenMPI's launcher uses in place of ssh (tests/multinode/host-agent).
# Addresses: 10.77.0.(10+i) for the i-th host, /24; the hosts file names them all.

mn_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MN_AGENT="$mn_dir/host-agent"
MN_STATE="${MN_STATE:-}" MN_HOSTS=() mn_prefix="${MN_PREFIX:-}"  # set when an agent sources it

# `ip -n NS` and `ip netns exec` remount / and /sys, which fails in a chroot (its / is no mount
# point: fresh-machine.sh's); nsenter only joins the network namespace.
mn_ip() {  # mn_ip NAMESPACE ARGS...: ip inside that network namespace
  local ns="$1"
  shift
  nsenter --net="/run/netns/$ns" ip "$@"
}

# How mn_run's mount namespaces treat propagation: private, so that its bind mounts (over /dev/shm,
# /etc/hosts) never reach the machine's. In a chroot whose / is no mount point, `unshare
# --propagation private` cannot work; there the mounts must already be private (a chroot made
# inside `unshare --mount`, as fresh-machine.sh does), and are left so.
mn_propagation() {
  if mountpoint -q /; then
    echo private
  elif [[ -z "$(awk '$5 !~ "^/run/netns" && / shared:/' /proc/self/mountinfo)" ]]; then  # ip netns shares its own
    echo unchanged
  else
    return 1
  fi
}

mn_probe() {
  [[ $(id -u) -eq 0 ]] || { echo "needs root (network namespaces)"; return; }
  local c out
  for c in ip nsenter unshare hostname mount mountpoint; do
    command -v "$c" >/dev/null || { echo "$c not installed (Debian: iproute2 util-linux)"; return; }
  done
  mn_propagation >/dev/null ||
    { echo "/ is no mount point (a chroot) and mounts here propagate to other namespaces"; return; }
  local probe="gptmn-probe-$$"
  out="$(ip netns add "$probe" 2>&1)" || { echo "'ip netns add' fails here: $out"; return; }
  if ! out="$(mn_ip "$probe" link add mnprobe0 type bridge 2>&1)"; then
    ip netns del "$probe"; echo "cannot make a bridge in a network namespace: $out"; return
  fi
  if ! out="$(nsenter --net="/run/netns/$probe" unshare --uts --mount --propagation "$(mn_propagation)" \
    true 2>&1)"; then
    ip netns del "$probe"; echo "cannot make UTS and mount namespaces: $out"; return
  fi
  ip netns del "$probe"
}

mn_ns() { echo "$mn_prefix-$1"; }

mn_up() {
  MN_STATE="$(mktemp -d /var/tmp/gptmn.XXXXXX)" || return 1
  chmod 755 "$MN_STATE"
  mn_prefix="gptmn-${MN_STATE##*.}"
  export MN_STATE MN_PREFIX="$mn_prefix"
  MN_HOSTS=("$@")
  mkdir -p "$MN_STATE/local" "$MN_STATE/etc"
  ip netns add "$(mn_ns switch)" || return 1
  mn_ip "$(mn_ns switch)" link add br0 type bridge || return 1
  mn_ip "$(mn_ns switch)" link set br0 up || return 1
  local i=0 h
  {
    echo "127.0.0.1 localhost"
    for h in "$@"; do echo "10.77.0.$((10 + ++i)) $h"; done
  } >"$MN_STATE/etc/hosts"
  i=0
  for h in "$@"; do
    i=$((i + 1))
    mkdir -p "$MN_STATE/disk/$h/tmp" "$MN_STATE/shm/$h"
    chmod 1777 "$MN_STATE/disk/$h/tmp" "$MN_STATE/shm/$h"
    ip netns add "$(mn_ns "$h")" || return 1
    mn_ip "$(mn_ns switch)" link add "v-$h" type veth peer name eth0 netns "$(mn_ns "$h")" || return 1
    mn_ip "$(mn_ns switch)" link set "v-$h" master br0 up || return 1
    mn_ip "$(mn_ns "$h")" addr add "10.77.0.$((10 + i))/24" dev eth0 || return 1
    mn_ip "$(mn_ns "$h")" link set eth0 up || return 1
    mn_ip "$(mn_ns "$h")" link set lo up || return 1
  done
}

mn_run() {
  local h="$1"
  shift
  nsenter --net="/run/netns/$(mn_ns "$h")" -- unshare --uts --mount --propagation "$(mn_propagation)" -- \
    bash -c 'hostname "$1" && mount --bind "$2/etc/hosts" /etc/hosts && mount --bind "$2/disk/$1" "$2/local" &&
             mount --bind "$2/shm/$1" /dev/shm && export TMPDIR="$2/local/tmp" && shift 2 && exec "$@"' \
    mn-run "$h" "$MN_STATE" "$@"
}

mn_kill() {
  local pids i
  for ((i = 0; i < 20; i++)); do
    pids="$(ip netns pids "$(mn_ns "$1")" 2>/dev/null)"
    [[ -z "$pids" ]] && return 0
    kill -KILL $pids 2>/dev/null
    sleep 0.1
  done
}

mn_cut() { mn_ip "$(mn_ns switch)" link set "v-$1" down; }
mn_mend() {
  mn_ip "$(mn_ns switch)" link set "v-$1" up
  # Neighbour entries that failed while the link was down would refuse the first connections
  # (EHOSTUNREACH) for a while; a host whose link comes up announces itself (gratuitous ARP).
  local h
  for h in "${MN_HOSTS[@]}"; do mn_ip "$(mn_ns "$h")" neigh flush all 2>/dev/null; done
}
mn_reboot() {
  mn_kill "$1"
  find "$MN_STATE/disk/$1/tmp" "$MN_STATE/shm/$1" -mindepth 1 -delete
  mn_mend "$1"
}

mn_down() {
  [[ -n "$mn_prefix" ]] || return 0
  local h
  for h in "${MN_HOSTS[@]}"; do
    mn_kill "$h"
    ip netns del "$(mn_ns "$h")" 2>/dev/null
  done
  ip netns del "$(mn_ns switch)" 2>/dev/null
  [[ -d "$MN_STATE" && -z "${GPT_MULTINODE_KEEP:-}" ]] && rm -rf "$MN_STATE"
  mn_prefix=""
}
