#!/usr/bin/env bash
# Stop the private test cluster of start-local-cluster.sh: slurmd, slurmctld, slurmdbd, its
# MariaDB and its munged, and remove the configuration it wrote to /etc/slurm. Only the
# processes named by the pid files it wrote are signalled, never a process found by name.
# Needs root. Stopping what is not running is not an error.
set -euo pipefail

RUN=/run/aedefense-slurm-test

log() { echo "[stop-local-cluster] $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "error: needs root"
    exit 1
fi

pidfile() { # the pid file a daemon of the test cluster writes
    case $1 in
    mariadbd) echo "$RUN/mariadb/mariadbd.pid" ;;
    munged) echo "$RUN/munge/munged.pid" ;;
    *) echo "$RUN/slurm/$1.pid" ;;
    esac
}

stop() { # stop NAME: TERM the pid of its pid file, wait up to 10 s, then KILL
    local name=$1 pid i
    pid=$(cat "$(pidfile "$name")" 2>/dev/null || true)
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
# its configuration in /etc/slurm, only where it is the one start-local-cluster.sh wrote
for conf in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do
    if [[ -f $conf ]] && head -n1 "$conf" | grep -qF "# Written by tests/slurm/start-local-cluster.sh"; then
        rm -f "$conf"
    fi
done
log "stopped"
