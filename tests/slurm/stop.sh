#!/usr/bin/env bash
# Stop the private Slurm that tests/slurm/start.sh started under DIR: cancel its
# jobs, then end slurmd, slurmctld and munged by the PIDs in their pid files
# (TERM, then KILL after 10 s). Only those processes are touched. Idempotent.
set -uo pipefail
dir=${1:?usage: tests/slurm/stop.sh DIR}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)
export SLURM_CONF=$dir/slurm.conf

# Jobs first, while the controller can still clean up their step daemons.
if [ -e "$dir/slurmctld.pid" ] && [ -f "$SLURM_CONF" ]; then
  ids=$(timeout 10 squeue -h -o %A 2>/dev/null || true)
  if [ -n "$ids" ]; then
    timeout 10 scancel $ids 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  fi
fi

stop_pid() {  # name pidfile
  local f=$2 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "stop.sh: $1 ($pid) still running, KILL"; kill -KILL "$pid" 2>/dev/null; fi
  fi
  rm -f "$f"
}
stop_pid slurmd "$dir/slurmd.pid"
stop_pid slurmctld "$dir/slurmctld.pid"
stop_pid munged "$dir/munged.pid"
exit 0
