#!/bin/sh
# keepalived's notify script: one line per VRRP transition, to syslog
# (`journalctl -t doorman-ha`) and appended to LOGFILE.
# keepalived runs it as: doorman-notify.sh LOGFILE INSTANCE NAME STATE PRIORITY
# Install as /etc/keepalived/doorman-notify.sh, owned by root, mode 0755
# (enable_script_security refuses a script others can write).
set -u
logfile=$1 type=$2 name=$3 state=$4 priority=$5

line="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) $(uname -n) vrrp $type $name -> $state (priority $priority)"
echo "$line" >> "$logfile"
# No syslog (a container, a test namespace): the file is enough.
logger -t doorman-ha -- "$line" 2>/dev/null || true
