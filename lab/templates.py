"""Files the lab renders: Kafka/Connect properties, log4j2 configs, the service script, sshd_config."""
from __future__ import annotations

from . import config as C
from .config import HostSpec


def _listener_lines(h: HostSpec, layout: str) -> str:
    """The listener settings of a layout; both serve PLAINTEXT on 9092 (the lab's own checks dial it)."""
    if layout == "default":
        return f"""\
listeners=PLAINTEXT://{h.url_host}:{C.BROKER_PORT},CONTROLLER://{h.url_host}:{C.CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://{h.name}:{C.BROKER_PORT}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
"""
    if layout == "named":
        # listener names that are not protocol names, as many production clusters use; the
        # clients' listener with SASL PLAIN logins (replication stays on INTERNAL, no SASL)
        user, password = C.SASL_CLIENT
        return f"""\
listeners=INTERNAL://{h.url_host}:{C.BROKER_PORT},EXTERNAL://{h.url_host}:{C.NAMED_EXTERNAL_PORT},CONTROLLER://{h.url_host}:{C.CONTROLLER_PORT}
advertised.listeners=INTERNAL://{h.name}:{C.BROKER_PORT},EXTERNAL://{h.name}:{C.NAMED_EXTERNAL_PORT}
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
listener.name.external.sasl.enabled.mechanisms=PLAIN
listener.name.external.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{password}";
"""
    raise ValueError(f"unknown listener layout {layout!r} (known: {', '.join(C.LAYOUTS)})")


def server_properties(h: HostSpec, layout: str = "default") -> str:
    return f"""\
# Written by the kafka-tls lab at first creation of this host (pristine plaintext).
# From now on this file belongs to the program under test.
process.roles=broker,controller
node.id={h.node_id}
controller.quorum.voters={C.quorum_voters()}
controller.listener.names=CONTROLLER
{_listener_lines(h, layout)}log.dirs={C.DATA_DIR}
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=16777216
"""


def connect_properties(h: HostSpec) -> str:
    return f"""\
# Written by the kafka-tls lab at first creation of this host (pristine plaintext).
# From now on this file belongs to the program under test.
bootstrap.servers={C.bootstrap_servers()}
group.id=connect-cluster
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
config.storage.topic=connect-configs
offset.storage.topic=connect-offsets
status.storage.topic=connect-status
config.storage.replication.factor=3
offset.storage.replication.factor=3
status.storage.replication.factor=3
offset.flush.interval.ms=10000
listeners=http://{h.url_host}:{C.CONNECT_PORT}
rest.advertised.host.name={h.name}
rest.advertised.port={C.CONNECT_PORT}
rest.advertised.listener=http
# FileStream connectors (connect-file) are on the worker classpath ({C.LIBS_ON_HOST}/*)
plugin.path={C.OPT_KAFKA}/plugins
"""


def host_env(h: HostSpec, lab_dir: str) -> str:
    return (
        f"HOST_NAME={h.name}\nHOST_SHORT={h.short}\nHOST_ADDR={h.address}\n"
        f"HOST_ROLE={h.role}\nKAFKA_TLS_LAB_DIR={lab_dir}\nSERVICE_USER={C.SERVICE_USER}\n"
        # Mozilla intermediate's curves: Kafka has no property for them (README "Security").
        "KAFKA_OPTS='-Djdk.tls.namedGroups=x25519,secp256r1,secp384r1'\n"
    )


LOG4J2_SERVICE = """\
# Log4j2 config of the lab's services: one file per service in ${sys:kafka.logs.dir}
status = warn
name = kafka-lab
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/${sys:kafka.log.name}.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.controller.name = kafka.controller
logger.controller.level = INFO
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""

LOG4J2_TOOLS = """\
# Log4j2 config for command-line tools run by the lab: warnings to stderr
status = warn
name = kafka-lab-tools
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""


def java_cmd_script(libs: str, log4j_tools: str) -> str:
    return f"""#!/bin/sh
# Run a Kafka main class with the lab's Kafka libs (this machine's kafka-java, a host's kafka-run-class):
#   kafka-java org.apache.kafka.tools.TopicCommand --bootstrap-server ... --list
# Like Kafka's kafka-run-class.sh it takes KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS (the lab's
# defaults are for quick tool starts) and KAFKA_OPTS from the environment.
exec java ${{KAFKA_HEAP_OPTS:--Xms64m -Xmx512m}} ${{KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}} \\
  -Dlog4j2.configurationFile={log4j_tools} -cp '{libs}/*' ${{KAFKA_OPTS:-}} "$@"
"""


SSHD_CONFIG = """\
# sshd of lab host {name} (kafka-tls lab)
Port {port}
ListenAddress {address}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 50:30:100
MaxSessions 50
SetEnv KAFKA_TLS_LAB_DIR={lab_dir}
Subsystem sftp internal-sftp
"""


SERVICE_SCRIPT = r"""#!/bin/bash
# kafka-service {start|stop|restart|status} {kafka|kafka-connect}
# The lab's stand-in for `systemctl <action> kafka`. Same path on every lab host.
# Runs as root (through sudo, like systemctl); the JVM runs as $SERVICE_USER (host.env).
set -u
. /opt/kafka/host.env
export KAFKA_TLS_LAB_DIR HOST_NAME
# JVM flags of the host (as a systemd unit's Environment= gives them), e.g. the TLS named groups.
KAFKA_OPTS=${KAFKA_OPTS:-}

ACTION=${1:-}
SVC=${2:-}
LIBS=/opt/kafka/libs
LOG_DIR=/var/log/kafka
RUN_DIR=/var/lib/kafka/run
START_TIMEOUT=${KAFKA_SERVICE_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_SERVICE_STOP_TIMEOUT:-30}

usage() { echo "usage: kafka-service {start|stop|restart|status} {kafka|kafka-connect}" >&2; exit 2; }

case "$SVC" in
  kafka)
    MAIN=kafka.Kafka; CONF=/etc/kafka/server.properties; LOGNAME=server ;;
  kafka-connect)
    MAIN=org.apache.kafka.connect.cli.ConnectDistributed; CONF=/etc/kafka/connect-avro-distributed.properties; LOGNAME=connect ;;
  *) usage ;;
esac
# Kafka's own start script's default. Like it, an inherited KAFKA_HEAP_OPTS wins: the program's
# restart steps once leaked their tools' 256 MiB into it, and a broker ran out of heap at a start.
HEAP=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
PIDFILE=$RUN_DIR/$SVC.pid
OUT=$LOG_DIR/$SVC.out

log() { echo "kafka-service[$HOST_NAME] $*"; }

need_root() {  # start/stop change the service: root only, as with systemctl (status is read-only)
  [ "$(id -u)" = 0 ] && return 0
  echo "kafka-service: '$ACTION $SVC' needs root (run: sudo -n -- /bin/bash -c '$0 $ACTION $SVC'); you are $(id -un)" >&2
  exit 4
}

# pid of the running service, or nothing
running_pid() {
  [ -r "$PIDFILE" ] || return 1
  local pid; pid=$(cat "$PIDFILE" 2>/dev/null)
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  local state; state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
  [ "$state" != "Z" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- " $MAIN " || return 1
  echo "$pid"
}

tcp_open() {  # host port
  timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

http_ok() {  # host port -> 0 if GET / answers 200
  timeout 5 bash -c '
    exec 3<>/dev/tcp/$0/$1 || exit 1
    printf "GET / HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3
    IFS= read -r line <&3 || exit 1
    case "$line" in *" 200"*) exit 0;; *) exit 1;; esac' "$1" "$2" 2>/dev/null
}

# listener endpoints "host port scheme" from the `listeners=` line of the config file
endpoints() {
  local line
  # drop Java properties escapes (a writer may store 'SSL\://host\:9093')
  line=$(grep -E '^[[:space:]]*listeners[[:space:]]*=' "$CONF" | tail -n 1 | sed -E 's/^[^=]*=[[:space:]]*//; s/\\//g')
  if [ -z "$line" ]; then
    if [ "$SVC" = kafka-connect ]; then line="http://:8083"; else line="PLAINTEXT://:9092"; fi
  fi
  local IFS=','
  for l in $line; do
    l=$(echo "$l" | tr -d '[:space:]')
    [ -n "$l" ] || continue
    local scheme=${l%%://*} rest=${l#*://}
    local port=${rest##*:} host=${rest%:*}
    host=${host#[}; host=${host%]}
    case "$host" in ""|0.0.0.0|::) host=$HOST_ADDR ;; esac
    echo "$host $port $scheme"
  done
}

is_up() {
  local any=0 host port scheme
  while read -r host port scheme; do
    any=1
    tcp_open "$host" "$port" || return 1
    if [ "$SVC" = kafka-connect ] && [ "$scheme" = http ]; then
      http_ok "$host" "$port" || return 1
    fi
  done < <(endpoints)
  [ "$any" = 1 ]
}

tail_logs() {
  echo "----- tail of $LOG_DIR/$LOGNAME.log -----" >&2
  tail -n 40 "$LOG_DIR/$LOGNAME.log" >&2 2>/dev/null
  echo "----- tail of $OUT -----" >&2
  tail -n 20 "$OUT" >&2 2>/dev/null
}

pid_alive() {  # exists and is not a zombie (the cmdline may still be setsid's right after the fork)
  [ -d "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]
}

wait_up() {  # pid
  local start=$SECONDS pid=$1
  while :; do
    if ! pid_alive "$pid"; then
      log "$SVC exited during start-up" >&2
      tail_logs; return 1
    fi
    if is_up; then
      log "$SVC is up (pid $pid, $((SECONDS - start))s): $(endpoints | awk '{printf "%s:%s ", $1, $2}')"
      return 0
    fi
    if [ $((SECONDS - start)) -ge "$START_TIMEOUT" ]; then
      log "$SVC did not come up within ${START_TIMEOUT}s (pid $pid)" >&2
      tail_logs; return 1
    fi
    sleep 1
  done
}

do_start() {
  local pid
  if pid=$(running_pid); then
    log "$SVC already running (pid $pid)"
    wait_up "$pid"; return
  fi
  [ -r "$CONF" ] || { log "missing $CONF" >&2; return 1; }
  install -d -o "$SERVICE_USER" -g "$SERVICE_USER" "$RUN_DIR" "$LOG_DIR"
  echo "===== start $(date -Is) =====" >> "$OUT"
  chown "$SERVICE_USER:$SERVICE_USER" "$OUT"
  # setsid: the JVM outlives the ssh session; setpriv: it runs as the service user (not root);
  # the environment is kept: KAFKA_TLS_LAB_DIR marks it as a lab process
  setsid setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups java $HEAP $KAFKA_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dkafka.lab.host="$HOST_NAME" \
    -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties \
    -Dkafka.logs.dir="$LOG_DIR" -Dkafka.log.name="$LOGNAME" \
    -cp "$LIBS/*" $MAIN "$CONF" >> "$OUT" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$PIDFILE"
  chown "$SERVICE_USER:$SERVICE_USER" "$PIDFILE"
  log "$SVC starting (pid $pid)"
  wait_up "$pid"
}

do_stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"; log "$SVC not running"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null
  local start=$SECONDS
  while running_pid >/dev/null; do
    if [ $((SECONDS - start)) -ge "$STOP_TIMEOUT" ]; then
      log "$SVC (pid $pid) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
      while running_pid >/dev/null; do sleep 0.2; done
      break
    fi
    sleep 0.2
  done
  rm -f "$PIDFILE"
  log "$SVC stopped (pid $pid, $((SECONDS - start))s)"
}

case "$ACTION" in
  start) need_root; do_start ;;
  stop) need_root; do_stop ;;
  restart) need_root; do_stop && do_start ;;
  status)
    if pid=$(running_pid); then
      if is_up && running_pid >/dev/null; then log "$SVC running (pid $pid), listeners up"; exit 0; fi
      log "$SVC running (pid $pid), listeners not (yet) up"; exit 1
    fi
    log "$SVC not running"; exit 3 ;;
  *) usage ;;
esac
"""


# Kafka's bin/*.sh tools the lab provides, by main class (the Maven jars carry no scripts).
KAFKA_TOOLS = {
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs.sh": "org.apache.kafka.tools.ConfigCommand",
    "kafka-metadata-quorum.sh": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-broker-api-versions.sh": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    # After a restart's gate the rollout hands leadership back with it (scripts.preferred_leaders_back).
    "kafka-leader-election.sh": "org.apache.kafka.tools.LeaderElectionCommand",
}


def tool_script(main_class: str) -> str:
    """bin/<tool>.sh as a Kafka install has it: the main class through kafka-run-class (which
    honours KAFKA_HEAP_OPTS, like the real scripts)."""
    return f"""#!/bin/sh
exec {C.OPT_KAFKA}/bin/kafka-run-class {main_class} "$@"
"""
