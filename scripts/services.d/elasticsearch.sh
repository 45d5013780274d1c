# shellcheck shell=bash disable=SC2154 # the settings are read by scripts/services, which sources this
# Elasticsearch for scripts/services (sourced): one node, or a cluster of
# ORDERPIPE_ES_NODES nodes. Node N keeps its state in es_dir N and serves
# HTTP on es_http_port N, transport 100 above it.
#
# Which nodes may be master: with 3 or more, every node, so the cluster
# survives losing any one. With 2, only node 1: two master-eligible nodes
# cannot outvote each other, Elasticsearch would keep one of them in the
# voting configuration anyway, and a fixed choice tells the tests and the
# reader which node may be lost (node 2) and which may not (node 1).

es_dir() { if [ "$1" = 1 ]; then echo "$state/$es_instance"; else echo "$state/$es_instance-$1"; fi; }
es_http_port() { echo $((es_port + $1 - 1)); }
es_node_ids() { seq -s " " 1 "$es_nodes"; }
es_node_name() { if [ "$1" = 1 ]; then echo "orderpipe-$es_instance"; else echo "orderpipe-$es_instance-$1"; fi; }
es_pidfiles() { local n; for n in ${1:-$(es_node_ids)}; do echo "$(es_dir "$n")/pid"; done; }

es_urls() {
  local n out=""
  for n in $(es_node_ids); do out="$out,$es_scheme://127.0.0.1:$(es_http_port "$n")"; done
  echo "${out#,}"
}

# es_curl N PATH: a request to node N as elastic (when security is on) with
# the node's CA; the credentials go through curl's config on stdin, never
# argv, so ps does not show them.
es_curl() {
  local dir args=(-fsS) url
  dir=$(es_dir "$1")
  url="$es_scheme://127.0.0.1:$(es_http_port "$1")$2"
  [ "$es_tls" = true ] && args+=(--cacert "$dir/config/certs/ca.crt")
  if [ "$es_security" = true ]; then
    printf 'user = "elastic:%s"\n' "$es_password" | curl "${args[@]}" -K - "$url"
  else
    curl "${args[@]}" "$url"
  fi
}

# es_ready [N...]: each node N (default: node 1) answers and sees the whole
# cluster with every primary shard assigned.
es_ready() {
  local n
  [ $# -gt 0 ] || set -- 1
  for n in "$@"; do
    es_curl "$n" "/_cluster/health?wait_for_nodes=$es_nodes&wait_for_status=yellow&timeout=1s" >/dev/null 2>&1 || return 1
  done
}

# Elasticsearch refuses to run as root, so it runs as an unprivileged user that
# owns its data, logs and config copy; the unpacked distribution stays read-only.
ensure_es_user() {
  if [ "$(id -u)" -ne 0 ]; then es_user=$(id -un); return; fi
  id "$es_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$es_user"
}

# run_as_es_user DIR CMD... runs an Elasticsearch tool (keystore, users) as
# the user that runs the server, with the node's config folder, so the
# files it writes belong to that user.
run_as_es_user() {
  local dir=$1
  shift
  local envs=(env -i PATH=/usr/bin:/bin HOME="$dir" ES_JAVA_HOME="$es_java_home" ES_PATH_CONF="$dir/config"
    ES_TMPDIR="$dir/tmp" ES_JAVA_OPTS="-Xms64m -Xmx128m -XX:TieredStopAtLevel=1")
  if [ "$(id -u)" -ne 0 ]; then "${envs[@]}" "$@"; else setpriv --reuid="$es_user" --regid="$es_user" --init-groups -- "${envs[@]}" "$@"; fi
}

# configure_security DIR turns security on: the elastic bootstrap password in
# the keystore, and file-realm users with the orderpipe_writer role. The
# native realm (users and roles made through the API, API keys) cannot work
# with this distribution: its .security index needs the analysis-common
# module, which the integ-test zip lacks. roles.yml is generated from the
# role file orderctl setup sends, so both grant the same.
configure_security() {
  local dir=$1 role_file="$root/deploy/elasticsearch/orderpipe-writer-role.json"
  command -v python3 >/dev/null || die "python3 is needed to write roles.yml"
  python3 -c 'import json,sys; print("orderpipe_writer: " + json.dumps(json.load(open(sys.argv[1]))))' "$role_file" \
    >"$dir/config/roles.yml" || die "cannot convert $role_file into roles.yml"
  echo "xpack.security.enabled: true" >>"$dir/config/elasticsearch.yml"
  if [ "$es_tls" = true ]; then
    make_certs "$dir/config/certs" "$dir/logs/certs.log"
    printf '%s\n' "xpack.security.http.ssl.enabled: true" "xpack.security.http.ssl.key: certs/node.key" \
      "xpack.security.http.ssl.certificate: certs/node.crt" "xpack.security.http.ssl.certificate_authorities: [certs/ca.crt]" \
      >>"$dir/config/elasticsearch.yml"
  fi
  chown -R "$es_user:" "$dir" 2>/dev/null || true
  local tools_log="$dir/logs/security-setup.log"
  : >"$tools_log"
  # Passwords go to the tools on stdin, never argv, so ps does not show them.
  run_as_es_user "$dir" "$es_home/bin/elasticsearch-keystore" create >>"$tools_log" 2>&1 || { cat "$tools_log" >&2; die "elasticsearch-keystore create failed"; }
  printf '%s' "$es_password" | run_as_es_user "$dir" "$es_home/bin/elasticsearch-keystore" add -x -f bootstrap.password >>"$tools_log" 2>&1 ||
    { cat "$tools_log" >&2; die "elasticsearch-keystore add bootstrap.password failed"; }
  local user password
  for user in orderpipe_consumer logstash_writer; do
    password=$es_consumer_password
    [ "$user" = logstash_writer ] && password=$es_logstash_password
    [ "${#password}" -ge 6 ] || die "the password of $user must have at least 6 characters"
    # Without -p the tool asks twice; with no console it reads the answers
    # from stdin.
    printf '%s\n%s\n' "$password" "$password" |
      run_as_es_user "$dir" "$es_home/bin/elasticsearch-users" useradd "$user" -r orderpipe_writer >>"$tools_log" 2>&1 ||
      { cat "$tools_log" >&2; die "elasticsearch-users useradd $user failed"; }
  done
}

# exec: started in the background, the function runs in a subshell whose pid
# is what stop signals, so the subshell must become the server.
as_es_user() {
  if [ "$(id -u)" -ne 0 ]; then exec "$@"; else exec setpriv --reuid="$es_user" --regid="$es_user" --init-groups -- "$@"; fi
}

# es_cluster_settings N prints node N's discovery settings.
es_cluster_settings() {
  local n=$1 m seeds="" masters=""
  if [ "$es_nodes" = 1 ]; then
    echo "discovery.type: single-node"
    return
  fi
  for m in $(es_node_ids); do
    seeds="$seeds, \"127.0.0.1:$(($(es_http_port "$m") + 100))\""
    if [ "$es_nodes" -ge 3 ] || [ "$m" = 1 ]; then masters="$masters, \"$(es_node_name "$m")\""; fi
  done
  echo "discovery.seed_hosts: [${seeds#, }]"
  echo "cluster.initial_master_nodes: [${masters#, }]"
  if [ "$es_nodes" = 2 ] && [ "$n" != 1 ]; then echo "node.roles: [ data, ingest ]"; fi
}

start_es() { # N
  local n=${1:-1} dir port
  dir=$(es_dir "$n")
  port=$(es_http_port "$n")
  [ "$es_tls" != true ] || [ "$es_security" = true ] || die "ORDERPIPE_ES_TLS=true needs ORDERPIPE_ES_SECURITY=true"
  # A secured cluster would need TLS between the nodes as well; the tests
  # prove security on one node and replication without it.
  [ "$es_security" != true ] || [ "$es_nodes" = 1 ] || die "ORDERPIPE_ES_SECURITY=true runs one node: set ORDERPIPE_ES_NODES=1"
  if alive "$dir/pid"; then log "Elasticsearch node $n already running (pid $(cat "$dir/pid"))"; return; fi
  ensure_es_user
  mkdir -p "$dir/data" "$dir/logs" "$dir/tmp"
  rm -rf "$dir/config" && cp -r "$es_home/config" "$dir/config"
  cat >>"$dir/config/elasticsearch.yml" <<YML

# orderpipe: local nodes on loopback for tests and make local
cluster.name: orderpipe
node.name: $(es_node_name "$n")
$(es_cluster_settings "$n")
network.host: 127.0.0.1
http.port: $port
transport.port: $((port + 100))
path.data: $dir/data
path.logs: $dir/logs
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
  chmod 755 "$state"
  if [ "$es_security" = true ]; then
    configure_security "$dir"
  else
    echo "xpack.security.enabled: false" >>"$dir/config/elasticsearch.yml"
  fi
  write_env >"$(es_dir 1)/test.env.tmp" && mv "$(es_dir 1)/test.env.tmp" "$(es_dir 1)/test.env"
  chown -R "$es_user:" "$dir" 2>/dev/null || true
  log "starting Elasticsearch $es_version node $n on $es_scheme://127.0.0.1:$port (security: $es_security)"
  as_es_user env -i PATH=/usr/bin:/bin HOME="$dir" ES_JAVA_HOME="$es_java_home" ES_PATH_CONF="$dir/config" \
    ES_TMPDIR="$dir/tmp" ES_JAVA_OPTS="-Xms$es_heap -Xmx$es_heap -XX:TieredStopAtLevel=1" \
    setsid "$es_home/bin/elasticsearch" -p "$dir/pid.es" \
    >"$dir/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# start_es_nodes [N]: node N, or every node, then wait until each of them
# sees the whole cluster.
start_es_nodes() {
  local ids=${1:-$(es_node_ids)} n
  mkdir -p "$(es_dir 1)"
  for n in $ids; do start_es "$n"; done
  local pidfiles
  mapfile -t pidfiles < <(es_pidfiles "$ids")
  wait_until Elasticsearch 180 "es_ready $ids" "${pidfiles[@]}"
}

# write_env records how the nodes were started, so `env` describes the
# running cluster whatever the caller's environment says now.
write_env() {
  echo "ORDERPIPE_TEST_ES_URL=$es_scheme://127.0.0.1:$es_port"
  echo "ORDERPIPE_TEST_ES_URLS=$(es_urls)"
  echo "ORDERPIPE_TEST_ES_NODES=$es_nodes"
  if [ "$es_security" = true ]; then
    echo "ORDERPIPE_TEST_ES_USERNAME=elastic"
    echo "ORDERPIPE_TEST_ES_PASSWORD=$es_password"
    echo "ORDERPIPE_TEST_ES_CONSUMER_PASSWORD=$es_consumer_password"
    echo "ORDERPIPE_TEST_ES_LOGSTASH_PASSWORD=$es_logstash_password"
  fi
  [ "$es_tls" = true ] && echo "ORDERPIPE_TEST_ES_CA_CERT=$(es_dir 1)/config/certs/ca.crt"
  return 0
}
