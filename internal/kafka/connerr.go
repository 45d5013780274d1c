package kafka

import (
	"crypto/x509"
	"errors"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/orderpipe/orderpipe/internal/retry"
	"github.com/orderpipe/orderpipe/internal/trust"
)

// ConnectError adds the setting to fix to an error the broker's security
// caused: refused SASL credentials, or a certificate the client does not
// trust. Other errors come back as they are. This is the one place that maps
// them to variables, so every program reads the same. The added text names
// variables, never their values.
func ConnectError(err error) error {
	var hostname x509.HostnameError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kafkago.SASLAuthenticationFailed):
		return fmt.Errorf("%w (kafka refused the credentials: check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM)", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (the broker's certificate does not name the host in KAFKA_BROKERS)", err)
	case trust.IsCertificateError(err):
		return fmt.Errorf("%w (the broker's certificate is not signed by the CA in KAFKA_TLS_CA_CERT, or by a system root when KAFKA_TLS_CA_CERT is empty)", err)
	}
	return err
}

// misconfigured reports the errors ConnectError explains: no wait fixes a
// wrong password or CA, so a retry loop must stop at them instead of
// waiting for a broker that already answered.
func misconfigured(err error) bool {
	return errors.Is(err, kafkago.SASLAuthenticationFailed) || trust.IsCertificateError(err)
}

// stopIfMisconfigured marks a misconfiguration permanent for retry.Do, explained by ConnectError; other errors stay retryable.
func stopIfMisconfigured(err error) error {
	if err != nil && misconfigured(err) {
		return retry.Permanent(ConnectError(err))
	}
	return err
}
