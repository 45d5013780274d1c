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
