package deploy

import "embed"

// OrdersTemplate is the body of PUT _index_template/orders: the composable
// index template for orders* with the orders mapping. orderctl setup installs
// it; the Go consumer and the tests read it rather than repeating the mapping.
//
//go:embed elasticsearch/orders-template.json
var OrdersTemplate []byte

// KibanaObjects holds kibana/*.ndjson: Kibana saved objects (data view,
// visualizations, map, saved search, dashboard) for
// POST /api/saved_objects/_import?overwrite=true.
//
//go:embed kibana/*.ndjson
var KibanaObjects embed.FS

// OrdersTemplateName is the name the template is installed under.
const OrdersTemplateName = "orders"

// WriterRole is the body of PUT _security/role/orderpipe_writer: what
// Logstash and the Go consumer may do. It is the one definition of that
// role: orderctl setup sends it to the native realm, and scripts/services
// writes it into the file realm's roles.yml (YAML is a superset of JSON), so
// the role the tests run against is the role setup creates.
//
//go:embed elasticsearch/orderpipe-writer-role.json
var WriterRole []byte

// WriterRoleName is the name the writer role is created under.
const WriterRoleName = "orderpipe_writer"

// ReaderRole is the role of a user that only reads the orders, all that
// orderctl dashboard needs: scripts/services writes it into the secured test
// node's file realm beside WriterRole, where the dashboard's tests read as a
// user that holds it alone. The README shows how to create it elsewhere.
//
//go:embed elasticsearch/orderpipe-reader-role.json
var ReaderRole []byte

// ReaderRoleName is the name the reader role is created under.
const ReaderRoleName = "orderpipe_reader"
