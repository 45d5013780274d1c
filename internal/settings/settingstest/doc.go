// Package settingstest holds the assertions every program's tests make
// about its contract with the person who configures it, none of which
// needs a server: a bad setting names its variable (AssertNamesVariable,
// AssertErrorNames), -h never prints a secret (AssertHelpHidesSecrets), and
// the README's settings tables say what the code declares
// (AssertREADMESettings, rewritten by `make docs`). The tests that need the
// real Kafka and Elasticsearch use internal/servicetest.
package settingstest
