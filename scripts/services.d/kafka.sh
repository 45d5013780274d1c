# shellcheck shell=bash disable=SC2154 # the settings are read by scripts/services, which sources this
# Kafka for scripts/services (sourced): one KRaft node, or a cluster of
# ORDERPIPE_KAFKA_NODES nodes that are each broker and controller, so a
# cluster of 3 keeps both its metadata quorum and its partitions when one
# node dies. Node N keeps its state in kafka_dir N and listens on
# kafka_client_port N (controller +1, SASL_SSL +2): the same layout as the
# single node had, so one node is simply a cluster of one.

kafka_dir() { if [ "$1" = 1 ]; then echo "$state/kafka"; else echo "$state/kafka-$1"; fi; }
kafka_client_port() { echo $((kafka_port + 3 * ($1 - 1))); }
kafka_node_ids() { seq -s " " 1 "$kafka_nodes"; }
kafka_pidfiles() { local n; for n in $(kafka_node_ids); do echo "$(kafka_dir "$n")/pid"; done; }

# kafka_brokers prints every node's client address, comma-separated:
# clients bootstrap from all of them, so any one may be down.
kafka_brokers() { # [port offset: 0 plaintext, 2 SASL_SSL]
  local n out=""
  for n in $(kafka_node_ids); do out="$out,127.0.0.1:$(($(kafka_client_port "$n") + ${1:-0}))"; done
  echo "${out#,}"
}

kafka_voters() {
  local n out=""
  for n in $(kafka_node_ids); do out="$out,$n@127.0.0.1:$(($(kafka_client_port "$n") + 1))"; done
  echo "${out#,}"
}

# The replication the cluster's own topics get, and what topics get by
# default: 3 copies and 2 in sync when there are 3 nodes or more, so an
# acknowledged write survives losing any one node and writes go on while it
# is away. The same figures orderctl setup is told by program_env.
kafka_replication() { if [ "$kafka_nodes" -ge 3 ]; then echo 3; else echo "$kafka_nodes"; fi; }
kafka_min_isr() { if [ "$kafka_nodes" -ge 3 ]; then echo 2; else echo 1; fi; }

kafka_java() { JAVA_HOME=$kafka_java_home "$kafka_java_home/bin/java" "$@"; }

# kafka_live_ids BOOTSTRAP prints the ids of the brokers the cluster reports
# as serving: a metadata round trip through the real client.
kafka_live_ids() {
  kafka_java -Xmx64m -XX:TieredStopAtLevel=1 -cp "$(cat "$state/kafka.classpath")" \
    org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$1" 2>/dev/null |
    sed -n 's/^127\.0\.0\.1:[0-9]* (id: \([0-9]*\) .*/\1/p' | sort -n | tr '\n' ' '
}

# kafka_ready [N]: every node serves (bootstrapped from all of them, so any
# live one answers), or node N does: asked itself, because the others keep
# listing a killed node until its session times out, and a restarted node
# lists itself only once it has caught up with the metadata and is unfenced.
kafka_ready() {
  local live n ids bootstrap
  ids=$(kafka_node_ids) bootstrap=$(kafka_brokers)
  if [ -n "${1:-}" ]; then ids=$1 bootstrap=127.0.0.1:$(kafka_client_port "$1"); fi
  live=" $(kafka_live_ids "$bootstrap")"
  for n in $ids; do
    case "$live" in *" $n "*) ;; *) return 1 ;; esac
  done
}

# kafka_cluster_id is made once per state folder and shared by every node's
# format: nodes formatted with different ids refuse to form one cluster.
kafka_cluster_id() {
  local file="$state/kafka.cluster-id"
  if [ ! -s "$file" ]; then
    # A Kafka Uuid is 16 random bytes in URL-safe base64 without padding;
    # made here rather than by a JVM that costs a second or two. Like
    # Kafka's Uuid.randomUuid, refuse one that starts with '-': the storage
    # tool's argument parser reads it as an option, so 1 format in 64
    # failed with "--cluster-id: expected one argument".
    local id=-
    while [ "${id#-}" != "$id" ]; do
      id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    done
    printf '%s' "$id" >"$file"
  fi
  cat "$file"
}

start_kafka() { # N
  local n=$1 dir port
  dir=$(kafka_dir "$n")
  port=$(kafka_client_port "$n")
  if alive "$dir/pid"; then log "Kafka node $n already running (pid $(cat "$dir/pid"))"; return; fi
  mkdir -p "$dir/data" "$dir/logs"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  if [ "$kafka_sasl" = true ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$((port + 2))"
    advertised="$advertised,SASL_SSL://127.0.0.1:$((port + 2))"
  fi
  local rf min_isr
  rf=$(kafka_replication)
  min_isr=$(kafka_min_isr)
  # server.properties holds the keystore password: readable by us only.
  ( umask 077 && : >"$dir/server.properties" )
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(kafka_voters)
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
PROPS
  [ "$kafka_sasl" != true ] || configure_kafka_sasl "$dir"
  cat >"$dir/log4j2.properties" <<PROPS
# Warnings and errors only: the tests create many topics, and INFO would
# bury what matters.
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
PROPS
  local cp
  cp=$(cat "$state/kafka.classpath")
  if [ ! -f "$dir/data/meta.properties" ]; then
    local scram=()
    # SCRAM users live in the cluster metadata: in KRaft the broker cannot
    # authenticate anyone before they exist, so they are written at format.
    [ "$kafka_sasl" != true ] || scram=(--add-scram "SCRAM-SHA-512=[name=$kafka_sasl_user,password=$kafka_sasl_password]")
    kafka_java -Xmx128m -XX:TieredStopAtLevel=1 -cp "$cp" kafka.tools.StorageTool format -t "$(kafka_cluster_id)" \
      -c "$dir/server.properties" "${scram[@]}" >"$dir/logs/format.log" 2>&1 ||
      { cat "$dir/logs/format.log" >&2; die "formatting the storage of Kafka node $n failed"; }
    [ "$kafka_sasl" != true ] || echo "$kafka_sasl_user" >"$dir/data/orderpipe-scram-user"
  fi
  if [ "$kafka_sasl" = true ] && [ "$(cat "$dir/data/orderpipe-scram-user" 2>/dev/null)" != "$kafka_sasl_user" ]; then
    die "ORDERPIPE_KAFKA_SASL=true needs the SCRAM user $kafka_sasl_user, made only when the storage is formatted: run '$0 clean' first"
  fi
  log "starting Kafka node $n on 127.0.0.1:$port"
  setsid "$kafka_java_home/bin/java" -Xms"$kafka_heap" -Xmx"$kafka_heap" -XX:+UseG1GC -XX:TieredStopAtLevel=1 \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$cp" kafka.Kafka "$dir/server.properties" \
    >"$dir/logs/kafka.out" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# start_kafka_cluster starts every node at once (each format costs a JVM
# start), then waits until all of them serve.
start_kafka_cluster() {
  mkdir -p "$(kafka_dir 1)"
  kafka_cluster_id >/dev/null
  [ "$kafka_sasl" != true ] || make_kafka_certs
  # Once, before the nodes start in parallel: env reads it.
  write_kafka_env >"$(kafka_dir 1)/test.env"
  local n pids=()
  for n in $(kafka_node_ids); do
    start_kafka "$n" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || die "Kafka did not start"; done
  local pidfiles
  mapfile -t pidfiles < <(kafka_pidfiles)
  wait_until Kafka 120 kafka_ready "${pidfiles[@]}"
}

# make_kafka_certs makes the SASL_SSL listener's CA and a PKCS12 keystore
# with a certificate signed by it, once per cluster start: every node
# listens on 127.0.0.1, so one certificate serves them all and a client
# trusts the whole cluster through one CA file. A node restarted alone
# keeps them, since the others still present them.
make_kafka_certs() {
  local certs="$state/kafka-certs" n
  for n in $(kafka_node_ids); do alive "$(kafka_dir "$n")/pid" && return 0; done
  rm -rf "$certs"
  make_certs "$certs" "$state/kafka-certs.log"
  ( umask 077 && openssl rand -hex 16 >"$certs/store.password" )
  openssl pkcs12 -export -name broker -in "$certs/node.crt" -inkey "$certs/node.key" -out "$certs/broker.p12" \
    -passout "file:$certs/store.password" >>"$state/kafka-certs.log" 2>&1 || { cat "$state/kafka-certs.log" >&2; die "openssl could not make the broker keystore"; }
  # keytool reads it back, so a keystore the JVM cannot open fails here
  # and not as a broker that never opens its listener.
  "$kafka_java_home/bin/keytool" -list -storetype PKCS12 -keystore "$certs/broker.p12" -storepass:file "$certs/store.password" >>"$state/kafka-certs.log" 2>&1 ||
    { cat "$state/kafka-certs.log" >&2; die "the JVM cannot read the broker keystore $certs/broker.p12"; }
  rm -f "$certs/node.key"
}

# configure_kafka_sasl DIR adds the SASL_SSL listener's settings: SCRAM-SHA-512
# only, with the keystore of make_kafka_certs. The PLAINTEXT listener stays
# for the brokers themselves and the tests that do not test security; no
# authorizer runs, so SASL proves who the client is and TLS what the broker
# is, and nothing else is restricted.
configure_kafka_sasl() {
  local dir=$1 certs="$state/kafka-certs"
  [ -s "$certs/broker.p12" ] || make_kafka_certs
  cat >>"$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$certs/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$(cat "$certs/store.password")
listener.name.sasl_ssl.ssl.client.auth=none
PROPS
}

# write_kafka_env records how the cluster was started, like write_env for
# Elasticsearch.
write_kafka_env() {
  echo "ORDERPIPE_TEST_KAFKA_BROKERS=$(kafka_brokers)"
  echo "ORDERPIPE_TEST_KAFKA_NODES=$kafka_nodes"
  echo "ORDERPIPE_TEST_KAFKA_REPLICATION_FACTOR=$(kafka_replication)"
  echo "ORDERPIPE_TEST_KAFKA_MIN_INSYNC_REPLICAS=$(kafka_min_isr)"
  if [ "$kafka_sasl" = true ]; then
    echo "ORDERPIPE_TEST_KAFKA_SASL_BROKERS=$(kafka_brokers 2)"
    echo "ORDERPIPE_TEST_KAFKA_SASL_MECHANISM=scram-sha-512"
    echo "ORDERPIPE_TEST_KAFKA_SASL_USERNAME=$kafka_sasl_user"
    echo "ORDERPIPE_TEST_KAFKA_SASL_PASSWORD=$kafka_sasl_password"
    echo "ORDERPIPE_TEST_KAFKA_SASL_CA_CERT=$state/kafka-certs/ca.crt"
  fi
  return 0
}
