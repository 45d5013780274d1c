package dashboard

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/deploy"
	"github.com/orderpipe/orderpipe/internal/elastic"
	"github.com/orderpipe/orderpipe/internal/generator"
	"github.com/orderpipe/orderpipe/internal/orderstats"
	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestSecuredElasticsearch: on the secured node (HTTPS, ES_CA_CERT) a user
// with the read-only orderpipe_reader role alone sees the figures, which
// proves what the README says the dashboard needs; the writers' role, which cannot search, gets a
// message naming the read privilege it lacks; wrong credentials are named
// as such; no password reaches the JSON.
func TestSecuredElasticsearch(t *testing.T) {
	s := servicetest.SecureElasticsearch(t)
	index := s.OrdersIndex(t, deploy.OrdersTemplate)
	evs := servicetest.Orders(t, generator.DefaultConfig(), 3, time.Now())
	for _, ev := range evs[:1] {
		s.Admin(t, http.MethodPut, "/"+index+"/_doc/"+ev.OrderID+"?refresh=true", rawJSON(ev.Value))
	}
	client := func(user, password string) *elastic.Client {
		c, err := elastic.New(elastic.Config{Addresses: []string{s.URL}, Username: user, Password: password, CACert: s.CACert,
			Index: index, RequestTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	var res orderstats.Result
	if code := getJSON(t, start(t, Options{ES: client(servicetest.DashboardUser, s.Dashboard(t))}), "/api/stats?range=1h", &res); code != http.StatusOK || res.Total != 1 || len(res.Latest) != 1 {
		t.Errorf("as %s (role %s: read on orders* only), over HTTPS with ES_CA_CERT: HTTP %d, total %d, %d latest; want 200, 1 and 1",
			servicetest.DashboardUser, deploy.ReaderRoleName, code, res.Total, len(res.Latest))
	}
	for _, tc := range []struct{ name, user, password, want string }{
		{"writer without read", servicetest.ConsumerUser, s.ConsumerPassword, "read privilege"},
		{"wrong password", servicetest.ConsumerUser, "not-" + s.ConsumerPassword, "ES_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Problem
			if code := getJSON(t, start(t, Options{ES: client(tc.user, tc.password)}), "/api/stats", &p); code != http.StatusServiceUnavailable || p.State != "forbidden" || !strings.Contains(p.Error, tc.want) {
				t.Errorf("HTTP %d %+v, want 503 forbidden naming %q", code, p, tc.want)
			}
			s.AssertNoSecret(t, "the JSON", p.Error)
		})
	}
}

// rawJSON sends a document as it is.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }
