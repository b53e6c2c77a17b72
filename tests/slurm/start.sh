#!/usr/bin/env bash
# Start a private single-node Slurm (munged, slurmctld, slurmd) under DIR.
#   tests/slurm/start.sh DIR        then:  source DIR/env; sbatch ...; tests/slurm/stop.sh DIR
#
# Nothing is written outside DIR (no /etc, /run or /var): a fresh munge key and
# socket, slurm.conf, state and spool directories, logs and pid files all live
# there. Clients find the controller through SLURM_CONF (DIR/env sets it); jobs
# inherit it. Ports are picked free at random so two harnesses can coexist.
# Facts of this machine the config encodes:
#  - the node is called `localhost` (slurmd -N localhost): the host name differs;
#  - proctrack/pgid, task/none: no cgroups in a container;
#  - no accounting database: exit codes come from `scontrol show job`;
#  - cred_expire=5: a requeued job may start again after 5 s (default 120 s);
#  - sched_interval=1: the scheduler looks at eligible jobs every second;
#  - OverSubscribe=FORCE:4: up to 4 jobs share a core (the tests run several small jobs at once);
#  - MinJobAge keeps finished jobs visible to scontrol for 10 minutes.
# Exit 0 when `sinfo` shows the node idle; otherwise prints the logs, stops what
# it started and exits 1.
set -euo pipefail
dir=${1:?usage: tests/slurm/start.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -e "$dir/slurmctld.pid" ] && { echo "start.sh: $dir already holds a Slurm (run tests/slurm/stop.sh $dir)"; exit 1; }
for b in munged slurmctld slurmd sinfo; do
  command -v $b >/dev/null || { echo "start.sh: $b not found (make deps installs slurm-wlm and munge)"; exit 1; }
done
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir/munge"

# --- munge: private key and socket
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
sock=$dir/munge/munge.sock
# --force: the harness runs as root under a world-writable /tmp parent, which
# munged's directory checks would otherwise refuse.
munged --force --socket="$sock" --key-file="$dir/munge/munge.key" --pid-file="$dir/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" 2>>"$dir/log/munged.log"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "start.sh: munged did not start:"; cat "$dir/log/munged.log"; exit 1; }

# --- two free TCP ports
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo $p; return; }
  done
  echo "start.sh: no free port" >&2; exit 1
}
ctld_port=$(free_port); slurmd_port=$(free_port)
[ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((slurmd_port + 1))
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)

cat >"$dir/slurm.conf" <<EOF
# Private single-node Slurm written by tests/slurm/start.sh
ClusterName=tessera-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$sock,cred_expire=5
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
KillWait=5
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
JobRequeue=1
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
cat >"$dir/env" <<EOF
export SLURM_CONF=$dir/slurm.conf
EOF
export SLURM_CONF=$dir/slurm.conf

fail() {
  echo "start.sh: $*"
  for f in "$dir"/log/*.log; do echo "--- $f"; tail -20 "$f"; done
  "$here/stop.sh" "$dir" || true
  exit 1
}
# -i: ignore state from an earlier run in DIR; -c: clear it.
slurmctld -c -i >>"$dir/log/slurmctld.out" 2>&1 || fail "slurmctld did not start"
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
scontrol ping 2>/dev/null | grep -q UP || fail "slurmctld does not answer"
slurmd -N localhost >>"$dir/log/slurmd.out" 2>&1 || fail "slurmd did not start"
for _ in $(seq 150); do
  state=$(sinfo -h -N -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || fail "node not idle after 30 s (state '$state')"
echo "private Slurm up in $dir: controller port $ctld_port, node localhost ($cpus CPUs); source $dir/env"
