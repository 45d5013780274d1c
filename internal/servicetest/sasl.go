package servicetest

import (
	"github.com/orderpipe/orderpipe/internal/settings/settingstest"
	"strings"
	"testing"
)

// Environment variables scripts/with-services sets for the broker's
// SASL_SSL listener (scripts/services ORDERPIPE_KAFKA_SASL=true): the same
// broker as ORDERPIPE_TEST_KAFKA_BROKERS, so a topic created or read on the
// open listener is the topic a client reaches through the secured one.
const (
	EnvKafkaSASLBrokers   = "ORDERPIPE_TEST_KAFKA_SASL_BROKERS"
	EnvKafkaSASLMechanism = "ORDERPIPE_TEST_KAFKA_SASL_MECHANISM"
	EnvKafkaSASLUsername  = "ORDERPIPE_TEST_KAFKA_SASL_USERNAME"
	EnvKafkaSASLPassword  = "ORDERPIPE_TEST_KAFKA_SASL_PASSWORD"
	EnvKafkaSASLCACert    = "ORDERPIPE_TEST_KAFKA_SASL_CA_CERT"
)

// SASLKafka is the broker's SASL_SSL listener: SCRAM-SHA-512 with one user
// made when the storage was formatted, TLS with a CA made when it started.
type SASLKafka struct {
	Brokers   []string
	Mechanism string // as KAFKA_SASL_MECHANISM takes it
	Username  string
	Password  string
	CACert    string // PEM file
	// WrongPassword is the password the "wrong password" case gives
	// (SASLCases); a program must not print it either.
	WrongPassword string
}

// KafkaSASL returns the SASL_SSL listener, or skips (fails on CI).
func KafkaSASL(tb testing.TB) SASLKafka {
	tb.Helper()
	password := require(tb, EnvKafkaSASLPassword)
	return SASLKafka{
		Brokers:       strings.Split(require(tb, EnvKafkaSASLBrokers), ","),
		Mechanism:     require(tb, EnvKafkaSASLMechanism),
		Username:      require(tb, EnvKafkaSASLUsername),
		Password:      password,
		CACert:        require(tb, EnvKafkaSASLCACert),
		WrongPassword: "wrong-" + password,
	}
}

// SASLCase is one way a program is pointed at the listener: with the right
// settings, or with one of them wrong, when it must stop at once with an
// error naming the variables to fix instead of retrying as if the broker
// were down.
type SASLCase struct {
	Name      string
	Password  string   // KAFKA_SASL_PASSWORD
	ForeignCA bool     // KAFKA_TLS_CA_CERT is a CA that signed nothing of the listener's
	WantErr   []string // variables the error must name; nil: the program must succeed
}

// SASLCases are the cases every program that talks to Kafka is tried with
// on the listener: the one home of what each wrong setting must name.
func (k SASLKafka) SASLCases() []SASLCase {
	return []SASLCase{
		{Name: "scram and CA", Password: k.Password},
		{Name: "wrong password", Password: k.WrongPassword, WantErr: []string{"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}},
		{Name: "foreign CA", Password: k.Password, ForeignCA: true, WantErr: []string{"KAFKA_TLS_CA_CERT"}},
	}
}

// SetenvFor is Setenv with the case's password and CA (a foreign one made
// for the test when the case asks for it).
func (k SASLKafka) SetenvFor(tb testing.TB, c SASLCase) {
	tb.Helper()
	ca := k.CACert
	if c.ForeignCA {
		ca = ForeignCA(tb)
	}
	k.Setenv(tb, c.Password, ca)
}

// AssertRun checks a run of a program (what) with case c, given what it
// printed and the error it returned: neither password is in either, and
// when c expects a failure, err names every variable of c.WantErr. It
// reports whether c expected a failure: then the run has nothing more to
// show.
func (k SASLKafka) AssertRun(tb testing.TB, c SASLCase, what, output string, err error) (failed bool) {
	tb.Helper()
	text := output
	if err != nil {
		text += "\n" + err.Error()
	}
	k.AssertNoSecret(tb, what+"'s output and error", text)
	if c.WantErr == nil {
		return false
	}
	c.AssertErrNames(tb, what, err)
	return true
}

// AssertErrNames fails the test unless err is an error naming every
// variable of c.WantErr; what names the program in the messages.
func (c SASLCase) AssertErrNames(tb testing.TB, what string, err error) {
	tb.Helper()
	settingstest.AssertErrorNames(tb, what, err, c.WantErr...)
}

// Setenv points the KAFKA_* connection variables every program reads at
// the listener as the SCRAM user with password, trusting the CA in file
// ca; a test passes the listener's own or a wrong one.
func (k SASLKafka) Setenv(tb testing.TB, password, ca string) {
	tb.Helper()
	for name, value := range map[string]string{
		"KAFKA_BROKERS": strings.Join(k.Brokers, ","), "KAFKA_SASL_MECHANISM": k.Mechanism,
		"KAFKA_SASL_USERNAME": k.Username, "KAFKA_SASL_PASSWORD": password,
		"KAFKA_TLS": "true", "KAFKA_TLS_CA_CERT": ca,
	} {
		tb.Setenv(name, value)
	}
}

// AssertNoSecret fails the test if text, what a program logged or printed,
// holds the listener's password or the wrong one the cases try.
func (k SASLKafka) AssertNoSecret(tb testing.TB, what, text string) {
	tb.Helper()
	for _, secret := range []string{k.Password, k.WrongPassword} {
		if secret != "" && strings.Contains(text, secret) {
			tb.Errorf("%s contains a password (%d characters)", what, len(secret))
		}
	}
}
