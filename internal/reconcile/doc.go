package reconcile

import "github.com/orderpipe/orderpipe/internal/elastic"

// Doc is what verify needs of one indexed order; internal/elastic reads it
// (Client.Scan, Client.Fetch), since it owns every call to Elasticsearch.
type Doc = elastic.Stored
