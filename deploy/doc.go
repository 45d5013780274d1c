// Package deploy holds orderpipe's stack as configuration-as-code and the
// tests that prove it without Docker.
//
// The files live beside this package: docker-compose.yml, .env and the
// docker-compose.cluster.yml override (three brokers, two Elasticsearch
// nodes) at the repository root, deploy/docker/Dockerfile, deploy/elasticsearch (the index
// template, the single source of the orders mapping), deploy/kibana (saved
// objects for the "Orders — live" dashboard), deploy/prometheus (scrape
// configuration and alert rules, with promtool unit tests) and logstash/
// (the Kafka to Elasticsearch pipeline). The Go code here only embeds the files other
// packages need at run time; the _test.go files load each file with the
// parser of the tool that will read it (compose-go, BuildKit's Dockerfile
// parser, a Logstash config reader, encoding/json) and, when
// ORDERPIPE_TEST_ES_URL names a real Elasticsearch, run every dashboard
// panel's aggregation against the real mapping.
package deploy
