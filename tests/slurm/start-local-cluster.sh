#!/usr/bin/env bash
# Start a private single-node SLURM cluster with accounting on this machine, for the SLURM
# test (tests/test_slurm.py): munged, MariaDB, slurmdbd, slurmctld and slurmd from Debian's
# packages, each started directly (no systemd), each its own private instance.
#
# It touches nothing of the machine's own: it refuses to run where SLURM is already configured
# (/etc/slurm/slurm.conf not written by it) or a SLURM daemon it did not start is running (a
# cluster's node or login node). Its state, logs, munge key and database live in $BASE and $RUN
# below (never /etc/munge or the system's MariaDB), its daemons use their own ports and
# sockets. Only slurm.conf and slurmdbd.conf go to /etc/slurm, where every SLURM command and
# job step looks for them (the SLURM executor plugin drops SLURM_* variables, SLURM_CONF
# among them, from the environment of what it runs); tests/slurm/stop-local-cluster.sh
# removes them again and stops exactly the processes whose pid files it wrote.
#
# Needs root. Installs missing packages with apt-get only when AEDEFENSE_SLURM_TEST=1 (the
# opt-in of `make test-slurm` and CI). Idempotent: when its cluster is up it only reports it.
# Progress goes to stderr; on success stdout has exactly these lines:
#   SLURM_CONF=  SLURM_PARTITION=  SLURM_ACCOUNT=  SLURM_CLUSTER=  SLURM_CPUS=  SLURM_MEM_MB=
# Every SLURM command must see SLURM_CONF (the test sets it for Snakemake and the plugin).
set -euo pipefail

exec 3>&1 1>&2 # everything goes to stderr but the final KEY=VALUE lines (fd 3)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

CLUSTER=aedefensetest
ACCOUNT=aedefense
PARTITION=debug
NODE=$(hostname -s)
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60} # seconds to wait for each daemon
MARKER="# Written by tests/slurm/start-local-cluster.sh"

BASE=/var/lib/aedefense-slurm-test # configuration, state, database, logs
RUN=/run/aedefense-slurm-test      # pid files and sockets: what stop-local-cluster.sh stops
SYSTEM_CONF=${AEDEFENSE_SLURM_SYSTEM_CONF:-/etc/slurm/slurm.conf} # settable for the tests only
export SLURM_CONF=$SYSTEM_CONF
DBD_CONF=$(dirname "$SYSTEM_CONF")/slurmdbd.conf
LOG_DIR=$BASE/log
DB_DIR=$BASE/mariadb
DB_PORT=16819 # private ports, apart from SLURM's and MariaDB's defaults
CTLD_PORT=16817
SLURMD_PORT=16818
DBD_PORT=16820
DB_NAME=slurm_acct_db
MUNGE_SOCKET=$RUN/munge/munge.socket # in a directory of the munge user, which creates it

log() { echo "[start-local-cluster] $*"; }
die() {
    echo "[start-local-cluster] error: $*"
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (daemons running as the slurm, munge and mysql users)"

# --- refuse a machine with a SLURM of its own -------------------------------------------------
if [[ -e $SYSTEM_CONF ]] && ! head -n1 "$SYSTEM_CONF" | grep -qF "$MARKER"; then
    die "$SYSTEM_CONF exists: this machine has a SLURM configuration of its own. The test starts its own cluster only where there is none; run it on a machine that is not part of a cluster"
fi
pidfile() { # the pid file a daemon of this cluster writes (each in its own user's directory)
    case $1 in
    mariadbd) echo "$RUN/mariadb/mariadbd.pid" ;;
    munged) echo "$RUN/munge/munged.pid" ;;
    *) echo "$RUN/slurm/$1.pid" ;;
    esac
}
ours() { # ours NAME PID: PID is the daemon NAME that this script started
    local file
    file=$(pidfile "$1")
    [[ -s $file && $(cat "$file") == "$2" ]]
}
for daemon in slurmctld slurmd slurmdbd; do
    for pid in $(pgrep -x "$daemon" || true); do
        ours "$daemon" "$pid" ||
            die "a $daemon (pid $pid) that this test did not start is running: this machine runs a SLURM of its own, which the test will not touch"
    done
done

# One start at a time (two test sessions may call this together).
mkdir -p "$RUN" "$LOG_DIR"
exec 9>"$RUN/start.lock"
flock -w 300 9 || die "another start-local-cluster.sh holds $RUN/start.lock"

# Start a daemon detached from this script: no stdin, output to a log, neither the lock (fd 9)
# nor the real stdout (fd 3) inherited, else the daemon holds the lock, or the pipe of a caller
# that reads this script's output, for as long as it runs.
launch() { "$@" </dev/null >>"$LOG_DIR/start-local-cluster.log" 2>&1 3>&- 9>&-; }
# The same for a daemon that stays in the foreground: `&` on the command itself, so that no
# subshell holding the script's output and lock lives on beside it.
launch_background() { "$@" </dev/null >>"$LOG_DIR/start-local-cluster.log" 2>&1 3>&- 9>&- & }

pid_alive() { # NAME: the daemon of its pid file is running
    local pid file
    file=$(pidfile "$1")
    [[ -s $file ]] || return 1
    pid=$(cat "$file")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}
munge_ok() { munge -S "$MUNGE_SOCKET" -n 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }
db_ok() { mariadb-admin --socket="$RUN/mariadb/mariadb.socket" --silent ping >/dev/null 2>&1; }
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
conf_value() { # the value of KEY=value on the node line of slurm.conf
    sed -n "s/^NodeName=$NODE .*\b$1=\([0-9]*\).*/\1/p" "$SLURM_CONF" 2>/dev/null | head -n1
}
report() {
    printf 'SLURM_CONF=%s\nSLURM_PARTITION=%s\nSLURM_ACCOUNT=%s\nSLURM_CLUSTER=%s\nSLURM_CPUS=%s\nSLURM_MEM_MB=%s\n' \
        "$SLURM_CONF" "$PARTITION" "$ACCOUNT" "$CLUSTER" "$(conf_value CPUs)" "$(conf_value RealMemory)" >&3
}
cluster_up() {
    [[ -f $SLURM_CONF ]] && munge_ok && db_ok && dbd_ok && in_db cluster "$CLUSTER" &&
        in_db account "$ACCOUNT" && ctld_ok && pid_alive slurmd && node_ok
}

if command -v slurmctld >/dev/null && cluster_up; then
    log "already up: node $NODE is $(node_state)"
    report
    exit 0
fi

# --- packages ---------------------------------------------------------------------------------
missing=()
for binary in munged munge slurmctld slurmd sinfo sbatch sacct sacctmgr slurmdbd mariadbd mariadb-install-db mariadb-admin; do
    command -v "$binary" >/dev/null || missing+=("$binary")
done
if ((${#missing[@]})); then
    [[ ${AEDEFENSE_SLURM_TEST:-} == 1 ]] ||
        die "missing ${missing[*]}; set AEDEFENSE_SLURM_TEST=1 (make test-slurm) to install SLURM, munge and MariaDB with apt-get"
    command -v apt-get >/dev/null || die "missing ${missing[*]}, and no apt-get to install them"
    log "installing SLURM, munge and MariaDB (missing: ${missing[*]})"
    # No daemon starts from a package's postinst: this script starts its own instances.
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

# --- stop what an earlier try of this script left behind (its own pid files only) -------------
bash "$(dirname "$0")/stop-local-cluster.sh"

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

install -d -m 0755 "$BASE" "$RUN" "$LOG_DIR" "$(dirname "$SYSTEM_CONF")"
install -d -o slurm -g slurm -m 0755 "$LOG_DIR/slurm"
install -d -o munge -g munge -m 0700 "$LOG_DIR/munge"
install -d -o mysql -g mysql -m 0750 "$LOG_DIR/mariadb"

# --- munged: its own key, socket and pid file -------------------------------------------------
if [[ ! -s $BASE/munge.key ]]; then
    dd if=/dev/urandom of="$BASE/munge.key" bs=1024 count=1 status=none
fi
chown munge:munge "$BASE/munge.key"
chmod 0400 "$BASE/munge.key"
install -d -o munge -g munge -m 0755 "$RUN/munge"
log "starting munged"
launch runuser -u munge -- munged --force --key-file="$BASE/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$RUN/munge/munged.pid" --log-file="$LOG_DIR/munge/munged.log" --seed-file="$RUN/munge/munged.seed"
wait_for munged "$LOG_DIR/munge/munged.log" munge_ok

# --- MariaDB: a private instance on its own data directory, socket and port -----------------
if [[ ! -d $DB_DIR/mysql ]]; then
    log "creating the accounting database in $DB_DIR"
    install -d -o mysql -g mysql -m 0750 "$DB_DIR"
    mariadb-install-db --user=mysql --datadir="$DB_DIR" --auth-root-authentication-method=socket \
        >>"$LOG_DIR/start-local-cluster.log" 2>&1
fi
install -d -o mysql -g mysql -m 0755 "$RUN/mariadb"
log "starting MariaDB"
launch_background mariadbd --no-defaults --user=mysql --datadir="$DB_DIR" --socket="$RUN/mariadb/mariadb.socket" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$RUN/mariadb/mariadbd.pid" \
    --log-error="$LOG_DIR/mariadb/mariadb.log"
wait_for MariaDB "$LOG_DIR/mariadb/mariadb.log" db_ok
DB_PASS=$(cat "$BASE/db.pass" 2>/dev/null || head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | tee "$BASE/db.pass")
chmod 0600 "$BASE/db.pass"
mariadb --socket="$RUN/mariadb/mariadb.socket" <<SQL
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON $DB_NAME.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL

# --- configuration ----------------------------------------------------------------------------
cpus=$(nproc)
mem_mb=$(free -m | awk '/^Mem:/ { print int($2 * 0.9) }') # above what slurmd sees drains the node
install -d -o slurm -g slurm -m 0755 "$BASE/ctld" "$RUN/slurm"
install -d -o root -g root -m 0755 "$BASE/slurmd"

cat >"$DBD_CONF.new" <<EOF
$MARKER
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=slurm
LogFile=$LOG_DIR/slurm/slurmdbd.log
PidFile=$RUN/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF
chown slurm:slurm "$DBD_CONF.new"
chmod 0600 "$DBD_CONF.new"
mv -f "$DBD_CONF.new" "$DBD_CONF"

cat >"$SLURM_CONF.new" <<EOF
$MARKER: a single-node test cluster, no cgroups.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$BASE/ctld
SlurmdSpoolDir=$BASE/slurmd
SlurmctldPidFile=$RUN/slurm/slurmctld.pid
SlurmdPidFile=$RUN/slurm/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurm/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurm/slurmd.log
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
AccountingStoragePort=$DBD_PORT
# the munge socket for talking to slurmdbd (AuthInfo covers the rest)
AccountingStoragePass=$MUNGE_SOCKET
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
wait_for slurmdbd "$LOG_DIR/slurm/slurmdbd.log" dbd_ok

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
wait_for slurmctld "$LOG_DIR/slurm/slurmctld.log" ctld_ok

log "starting slurmd"
launch slurmd
resumed=0
node_ready() {
    node_ok && return 0
    # A node left drained or down by an earlier try: ReturnToService=2 does not undo a drain.
    if ((!resumed)) && pid_alive slurmd; then
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
wait_for "slurmd (node $NODE idle)" "$LOG_DIR/slurm/slurmd.log" node_ready

log "up: node $NODE is $(node_state), cluster $CLUSTER, account $ACCOUNT, config $SLURM_CONF"
report
