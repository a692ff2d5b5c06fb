#!/usr/bin/env bash
# Stop the local test cluster of start-local-cluster.sh: slurmd, slurmctld and slurmdbd.
# munge and MariaDB keep running (start-local-cluster.sh reuses them); with --all they are
# stopped too. Needs root. Stopping what is not running is not an error.
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
RUN_DIR=/run/slurm

log() { echo "[stop-local-cluster] $*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "error: needs root"
    exit 1
fi

stop_pids() { # stop_pids NAME PID...: TERM, wait up to 10 s, then KILL
    local name=$1 pid i
    shift
    local pids=("$@")
    ((${#pids[@]})) || return 0
    log "stopping $name (${pids[*]})"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 40; i++)); do
        local alive=()
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        ((${#alive[@]})) || return 0
        pids=("${alive[@]}")
        sleep 0.25
    done
    log "$name did not stop on TERM: killing it"
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

daemon_pids() { # NAME [PIDFILE]: the pid in its pid file and any process of exactly that name
    {
        [[ -n ${2:-} ]] && cat "$2" 2>/dev/null
        pgrep -x "$1"
    } | grep -E '^[0-9]+$' | sort -u || true
}

for daemon in slurmd slurmctld slurmdbd; do
    mapfile -t pids < <(daemon_pids "$daemon" "$RUN_DIR/$daemon.pid")
    stop_pids "$daemon" "${pids[@]}"
    rm -f "$RUN_DIR/$daemon.pid"
done

if [[ ${1:-} == --all ]]; then
    if [[ -x /etc/init.d/mariadb ]]; then
        log "stopping MariaDB"
        /etc/init.d/mariadb stop >&2 || true
    fi
    mapfile -t pids < <(daemon_pids munged /run/munge/munged.pid)
    stop_pids munged "${pids[@]}"
fi
log "stopped"
