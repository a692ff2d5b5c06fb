#!/usr/bin/env bash
# Stop the private test cluster of start-local-cluster.sh: slurmd, slurmctld, slurmdbd, its
# MariaDB and its munged. Only the processes named by the pid files it wrote are signalled,
# never a process found by name. Needs root. Stopping what is not running is not an error.
set -euo pipefail

RUN=/run/aedefense-slurm-test

log() { echo "[stop-local-cluster] $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "error: needs root"
    exit 1
fi

stop() { # stop NAME: TERM the pid of $RUN/NAME.pid, wait up to 10 s, then KILL
    local name=$1 pid i
    pid=$(cat "$RUN/$name.pid" 2>/dev/null || true)
    rm -f "$RUN/$name.pid"
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    # a pid file outlives its daemon: signal the pid only while it is still that daemon
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 0
    log "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    log "$name did not stop on TERM: killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# the cluster first, the services it uses last
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do stop "$daemon"; done
log "stopped"
