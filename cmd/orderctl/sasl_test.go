package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestTailOverSASLSSL: tail reads through the broker's SASL_SSL listener
// (SCRAM-SHA-512, the listener's CA), reading partitions directly and as a
// consumer group, and prints exactly what was produced; a wrong password
// or CA fails with an error naming the variable (as a group only after
// kafka-go's reader has given up its retries, about 10 s). No password is
// printed.
// (tail reads only Kafka; verify and setup against the secured
// Elasticsearch are in security_test.go.)
func TestTailOverSASLSSL(t *testing.T) {
	k := servicetest.KafkaSASL(t)
	s := newStack(t, 2) // topic made and filled through the open listener
	evs := events(t, 10, 5, 0)
	s.produce(t, s.topic, messages(evs))
	n := itoa(len(evs))
	wrong := "wrong-" + k.Password
	tests := []struct {
		name      string
		args      []string
		password  string
		foreignCA bool
		wantErr   []string
	}{
		{name: "partitions", args: []string{"tail", "-from", "earliest", "-max", n}, password: k.Password},
		{name: "group", args: []string{"tail", "-from", "earliest", "-group", servicetest.Name(t, "tail-sasl"), "-max", n}, password: k.Password},
		{name: "wrong password", args: []string{"tail", "-from", "earliest", "-max", n}, password: wrong,
			wantErr: []string{"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}},
		{name: "group, wrong password", args: []string{"tail", "-from", "earliest", "-group", servicetest.Name(t, "tail-sasl"), "-max", n},
			password: wrong, wantErr: []string{"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}},
		{name: "foreign CA", args: []string{"tail", "-from", "earliest", "-max", n}, password: k.Password, foreignCA: true,
			wantErr: []string{"KAFKA_TLS_CA_CERT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca := k.CACert
			if tc.foreignCA {
				ca = servicetest.ForeignCA(t)
			}
			k.Setenv(t, tc.password, ca)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, errOut, err := runCmd(t, ctx, tc.args...)
			text := out + "\n" + errOut
			if err != nil {
				text += "\n" + err.Error()
			}
			k.AssertNoSecret(t, "tail's output", text, wrong)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("tail succeeded, want an error naming %v\n%s", tc.wantErr, out)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %s", err, w)
					}
				}
				return
			}
			if err != nil || ctx.Err() != nil {
				t.Fatalf("tail: %v (ctx %v)\n%s\n%s", err, ctx.Err(), out, errOut)
			}
			if got, want := printedIDs(t, out), wantIDs(evs, nil); !slices.Equal(got, want) {
				t.Errorf("printed %d events %v\nwant %d %v", len(got), got, len(want), want)
			}
		})
	}
}
