#!/usr/bin/env bash
# Entry point of the Kafka image: one combined broker+controller node (KRaft). Configuration as in the
# apache/kafka image: every variable KAFKA_<NAME> sets the property <name> (lower case; `___` is `-`, `__` is `_`,
# `_` is `.`), over the defaults below (one node, PLAINTEXT on 9092 advertised as localhost:9092, CONTROLLER on
# 9093); KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS and KAFKA_OPTS are JVM options. CLUSTER_ID names the
# cluster (random when unset). The storage under /var/lib/kafka/data is formatted on the first start.
# `entrypoint.sh --health` exits 0 once the client port accepts connections.
set -euo pipefail
home=/var/lib/kafka
conf="$home/server.properties"

if [ "${1:-}" = "--health" ]; then
  port="$(cat "$home/client-port" 2>/dev/null || echo 9092)"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then exit 0; else exit 1; fi
fi

declare -A props=(
  [process.roles]=broker,controller
  [node.id]=1
  [controller.quorum.voters]=1@localhost:9093
  [listeners]=PLAINTEXT://:9092,CONTROLLER://:9093
  [advertised.listeners]=PLAINTEXT://localhost:9092
  [controller.listener.names]=CONTROLLER
  [inter.broker.listener.name]=PLAINTEXT
  [listener.security.protocol.map]=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
  [log.dirs]="$home/data"
  [offsets.topic.replication.factor]=1
  [offsets.topic.num.partitions]=5
  [transaction.state.log.replication.factor]=1
  [transaction.state.log.min.isr]=1
  [transaction.state.log.num.partitions]=5
  [group.initial.rebalance.delay.ms]=0
  [num.network.threads]=2
  [num.io.threads]=4
)
for var in $(compgen -e); do
  case "$var" in
    KAFKA_HEAP_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_OPTS | KAFKA_VERSION) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  name="${var#KAFKA_}"
  name="${name,,}"
  name="${name//___/-}"
  name="${name//__/$'\x01'}"
  name="${name//_/.}"
  name="${name//$'\x01'/_}"
  props[$name]="${!var}"
done

: >"$conf"
for name in "${!props[@]}"; do printf '%s=%s\n' "$name" "${props[$name]}" >>"$conf"; done
# The client port, for --health: the port of the first listener that is not the controller's.
listeners="${props[listeners]}"
for l in ${listeners//,/ }; do
  case "$l" in CONTROLLER://*) ;; *) echo "${l##*:}" >"$home/client-port"; break ;; esac
done

classpath='/opt/kafka/libs/*'
jvm=(${KAFKA_HEAP_OPTS:-} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData} ${KAFKA_OPTS:-}
  -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties)
if [ ! -f "${props[log.dirs]%%,*}/meta.properties" ]; then
  id="${CLUSTER_ID:-}"
  if [ -z "$id" ]; then
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    case "$id" in -*) id="A${id:1}" ;; esac
  fi
  java "${jvm[@]}" -cp "$classpath" kafka.tools.StorageTool format -t "$id" -c "$conf" --ignore-formatted >/dev/null
fi
exec java "${jvm[@]}" -cp "$classpath" kafka.Kafka "$conf"
