#!/usr/bin/env bash
# Start a real single-node SLURM cluster with accounting on this machine, for the SLURM test
# (tests/test_slurm.py): munge, MariaDB, slurmdbd, slurmctld and slurmd, from Debian's packages
# (installed with apt-get when missing), each started directly (no systemd needed).
#
# Needs root and apt-get (Debian 12). Idempotent: when the cluster is already up it only prints
# its description; daemons left half up by an earlier try are stopped and started again.
# Progress goes to stderr; on success stdout has exactly these lines:
#   SLURM_PARTITION=  SLURM_ACCOUNT=  SLURM_CLUSTER=  SLURM_CPUS=  SLURM_MEM_MB=
# Stop it with tests/slurm/stop-local-cluster.sh.
set -euo pipefail

exec 3>&1 1>&2 # everything goes to stderr but the final KEY=VALUE lines (fd 3)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

CLUSTER=testcluster
ACCOUNT=aedefense
PARTITION=debug
NODE=$(hostname -s)
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60} # seconds to wait for each daemon

CONF_DIR=/etc/slurm
SLURM_CONF=$CONF_DIR/slurm.conf
DBD_CONF=$CONF_DIR/slurmdbd.conf
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS=slurmdbd-local-test # a local test database, reachable only from this machine

log() { echo "[start-local-cluster] $*"; }
die() {
    echo "[start-local-cluster] error: $*"
    exit 1
}

if [[ $(id -u) -ne 0 ]]; then
    die "needs root (daemons, /etc/slurm, apt-get)"
fi

# One start at a time (two test sessions may call this together).
mkdir -p "$RUN_DIR" "$LOG_DIR"
exec 9>"$RUN_DIR/start-local-cluster.lock"
flock -w 300 9 || die "another start-local-cluster.sh holds $RUN_DIR/start-local-cluster.lock"

# Start a daemon detached from this script: no stdin, output to a log, neither the lock (fd 9)
# nor the real stdout (fd 3) inherited, else the daemon holds the lock, or the pipe of a caller
# that reads this script's output, for as long as it runs.
launch() { "$@" </dev/null >>"$LOG_DIR/start-local-cluster.log" 2>&1 3>&- 9>&-; }

# --- the cluster's description, from slurm.conf when it exists -------------------------------
conf_value() { # the value of KEY=value on the node line of slurm.conf
    sed -n "s/^NodeName=$NODE .*\b$1=\([0-9]*\).*/\1/p" "$SLURM_CONF" 2>/dev/null | head -n1
}

report() {
    local cpus mem
    cpus=$(conf_value CPUs)
    mem=$(conf_value RealMemory)
    printf 'SLURM_PARTITION=%s\nSLURM_ACCOUNT=%s\nSLURM_CLUSTER=%s\nSLURM_CPUS=%s\nSLURM_MEM_MB=%s\n' \
        "$PARTITION" "$ACCOUNT" "$CLUSTER" "$cpus" "$mem" >&3
}

# --- checks -----------------------------------------------------------------------------------
pid_alive() { # pid file -> the daemon it names is running
    local pid
    [[ -s $1 ]] || return 1
    pid=$(cat "$1")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
mariadb_ok() { mariadb-admin --silent ping >/dev/null 2>&1; }
dbd_ok() { sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }
ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1; }
node_ok() {
    case $(node_state) in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
    esac
}
in_db() { # in_db cluster|account|user NAME
    sacctmgr -n -P show "$1" "$2" format="$1" 2>/dev/null | grep -qx "$2"
}

cluster_up() {
    [[ -f $SLURM_CONF ]] && grep -qx "ClusterName=$CLUSTER" "$SLURM_CONF" &&
        munge_ok && dbd_ok && in_db cluster "$CLUSTER" && in_db account "$ACCOUNT" &&
        ctld_ok && pid_alive "$RUN_DIR/slurmd.pid" && node_ok
}

if command -v slurmctld >/dev/null && cluster_up; then
    log "already up: node $NODE is $(node_state)"
    sinfo
    report
    exit 0
fi

# --- packages ---------------------------------------------------------------------------------
missing=()
for binary in munged slurmctld slurmd sinfo sbatch sacct sacctmgr slurmdbd mariadbd mariadb-admin; do
    command -v "$binary" >/dev/null || missing+=("$binary")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "missing ${missing[*]}, and no apt-get to install them"
    log "installing SLURM, munge and MariaDB (missing: ${missing[*]})"
    # No daemon starts from a package's postinst: this script starts them, configured.
    own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends \
        munge slurmctld slurmd slurm-client slurmdbd mariadb-server
    if ((own_policy)); then rm -f /usr/sbin/policy-rc.d; fi
fi

# --- stop what an earlier try left behind -----------------------------------------------------
stop_daemon() { # stop_daemon NAME: by its pid file, then any process of exactly that name
    local name=$1 pids pid i
    pids=$(
        cat "$RUN_DIR/$name.pid" 2>/dev/null || true
        pgrep -x "$name" || true
    )
    pids=$(echo "$pids" | sort -u | grep -E '^[0-9]+$' || true)
    [[ -n $pids ]] || return 0
    log "stopping $name ($(echo $pids))"
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 40; i++)); do
        pids=$(for pid in $pids; do kill -0 "$pid" 2>/dev/null && echo "$pid"; done || true)
        [[ -n $pids ]] || break
        sleep 0.25
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -f "$RUN_DIR/$name.pid"
}
for daemon in slurmd slurmctld slurmdbd; do stop_daemon "$daemon"; done

wait_for() { # wait_for WHAT LOG CHECK...: poll CHECK for up to TIMEOUT seconds
    local what=$1 logfile=$2 deadline=$((SECONDS + TIMEOUT))
    shift 2
    until "$@"; do
        if ((SECONDS >= deadline)); then
            echo "[start-local-cluster] error: $what did not come up within ${TIMEOUT}s; last lines of $logfile:"
            tail -n 30 "$logfile" 2>/dev/null || echo "(no $logfile)"
            exit 1
        fi
        sleep 0.5
    done
}

# --- munge ------------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge_ok; then
    log "starting munged"
    if [[ -s /run/munge/munged.pid ]]; then kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true; fi
    sleep 0.5
    launch runuser -u munge -- /usr/sbin/munged --force
    wait_for munged /var/log/munge/munged.log munge_ok
fi

# --- MariaDB and the accounting database ------------------------------------------------------
if ! mariadb_ok; then
    log "starting MariaDB"
    launch /etc/init.d/mariadb start
    wait_for MariaDB "$LOG_DIR/start-local-cluster.log" mariadb_ok
fi
mariadb <<SQL
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL

# --- configuration ----------------------------------------------------------------------------
cpus=$(nproc)
mem_mb=$(free -m | awk '/^Mem:/ { print int($2 * 0.9) }') # above what slurmd sees drains the node
install -d -m 0755 "$CONF_DIR"
install -d -o slurm -g slurm -m 0755 "$LOG_DIR" "$RUN_DIR" "$STATE_DIR"
install -d -o root -g root -m 0755 "$SPOOL_DIR"

cat >"$DBD_CONF.new" <<EOF
# Written by tests/slurm/start-local-cluster.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$RUN_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF
chown slurm:slurm "$DBD_CONF.new"
chmod 0600 "$DBD_CONF.new"
mv -f "$DBD_CONF.new" "$DBD_CONF"

cat >"$SLURM_CONF.new" <<EOF
# Written by tests/slurm/start-local-cluster.sh: a single-node test cluster, no cgroups.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
AuthType=auth/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
# sample every 5 s, so that short test jobs get MaxRSS too
JobAcctGatherFrequency=task=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
chmod 0644 "$SLURM_CONF.new"
mv -f "$SLURM_CONF.new" "$SLURM_CONF"

# --- slurmdbd, then the cluster, account and users in it --------------------------------------
log "starting slurmdbd"
launch slurmdbd
wait_for slurmdbd "$LOG_DIR/slurmdbd.log" dbd_ok

in_db cluster "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER"
in_db account "$ACCOUNT" || sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" \
    description="aedefense tests" organization=aedefense
users=(root)
if [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then users+=("$SUDO_USER"); fi
for user in "${users[@]}"; do
    if ! sacctmgr -n -P show assoc cluster="$CLUSTER" account="$ACCOUNT" user="$user" format=user |
        grep -qx "$user"; then
        sacctmgr -i add user "$user" account="$ACCOUNT" cluster="$CLUSTER"
    fi
done

# --- slurmctld, then slurmd -------------------------------------------------------------------
log "starting slurmctld"
launch slurmctld
wait_for slurmctld "$LOG_DIR/slurmctld.log" ctld_ok

log "starting slurmd"
launch slurmd
resumed=0
node_ready() {
    node_ok && return 0
    # A node left drained or down by an earlier try: ReturnToService=2 does not undo a drain.
    if ((!resumed)) && pid_alive "$RUN_DIR/slurmd.pid"; then
        case $(node_state) in
        drain* | down | fail*)
            log "node $NODE is $(node_state): resuming it"
            scontrol update nodename="$NODE" state=resume || true
            resumed=1
            ;;
        esac
    fi
    return 1
}
wait_for "slurmd (node $NODE idle)" "$LOG_DIR/slurmd.log" node_ready

log "up: node $NODE is $(node_state), cluster $CLUSTER, account $ACCOUNT"
sinfo
report
