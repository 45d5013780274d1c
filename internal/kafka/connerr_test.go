package kafka

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/retry"
)

func TestConnectErrorNamesTheSetting(t *testing.T) {
	other := errors.New("connection refused")
	tests := []struct {
		name      string
		err       error
		want      string // "" = returned unchanged
		permanent bool
	}{
		{"nil", nil, "", false},
		{"refused credentials", fmt.Errorf("metadata: %w", kafkago.SASLAuthenticationFailed), "KAFKA_SASL_PASSWORD", true},
		{"unknown CA", fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), "KAFKA_TLS_CA_CERT", true},
		{"wrong host", fmt.Errorf("dial: %w", x509.HostnameError{Host: "kafka"}), "KAFKA_BROKERS", true},
		{"broker down", other, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ConnectError(tc.err)
			if tc.want == "" {
				if got != tc.err { //nolint:errorlint // identity: the very error must come back, not a wrapper
					t.Fatalf("ConnectError(%v) = %v, want it unchanged", tc.err, got)
				}
			} else if !errors.Is(got, tc.err) || !strings.Contains(got.Error(), tc.want) {
				t.Fatalf("ConnectError(%v) = %v, want it wrapped and naming %s", tc.err, got, tc.want)
			}
			if isPerm := retry.IsPermanent(stopIfMisconfigured(tc.err)); isPerm != tc.permanent {
				t.Errorf("stopIfMisconfigured(%v) permanent = %v, want %v", tc.err, isPerm, tc.permanent)
			}
		})
	}
}
