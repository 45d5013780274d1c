package settings

import (
	"bytes"
	"strings"
	"testing"
)

type docSpec struct {
	Inner
	Orders layout `envconfig:"KAFKA_TOPIC"`
	Token  string `envconfig:"ADMIN_TOKEN" default:"letmein" desc:"admin token"`
	Bulk   int    `envconfig:"BULK_SIZE" default:"2000" desc:"most messages in one _bulk request | at most *100000*"`
	Keys   string `envconfig:"ES_KEYS" desc:"ES_API_KEY or ES_USERNAME, \\ escaped, <host>"`
}

func TestMarkdownHasOneRowPerVariableAsHelpListsThem(t *testing.T) {
	var out bytes.Buffer
	if err := Markdown(&out, &docSpec{}); err != nil {
		t.Fatal(err)
	}
	want := "| variable | default | meaning |\n| --- | --- | --- |\n" +
		"| `KAFKA_BROKERS` |  |  |\n" +
		"| `KAFKA_SASL_PASSWORD` |  |  |\n" +
		"| `KAFKA_TOPIC_PARTITIONS` | `6` | partitions |\n" +
		"| `KAFKA_TOPIC_MIN_INSYNC_REPLICAS` | `1` | min ISR |\n" +
		// A secret's default is not printed, even when its tag has one.
		"| `ADMIN_TOKEN` |  | admin token |\n" +
		"| `BULK_SIZE` | `2000` | most messages in one \\_bulk request \\| at most \\*100000\\* |\n" +
		"| `ES_KEYS` |  | ES_API_KEY or ES_USERNAME, \\\\ escaped, \\<host> |\n"
	if out.String() != want {
		t.Fatalf("Markdown wrote\n%s\nwant\n%s", out.String(), want)
	}
}

func TestMarkdownCommandsListsEachVariableOnceWithItsReaders(t *testing.T) {
	type tail struct {
		Inner
		Max int `envconfig:"TAIL_MAX" default:"0" desc:"stop after"`
	}
	type verify struct {
		Inner
		Orders layout `envconfig:"KAFKA_TOPIC"`
	}
	var out bytes.Buffer
	if err := MarkdownCommands(&out, Command{"tail", &tail{}}, Command{"verify", &verify{}}); err != nil {
		t.Fatal(err)
	}
	want := "| variable | read by | default | meaning |\n| --- | --- | --- | --- |\n" +
		"| `KAFKA_BROKERS` | tail, verify |  |  |\n" +
		"| `KAFKA_SASL_PASSWORD` | tail, verify |  |  |\n" +
		"| `TAIL_MAX` | tail | `0` | stop after |\n" +
		"| `KAFKA_TOPIC_PARTITIONS` | verify | `6` | partitions |\n" +
		"| `KAFKA_TOPIC_MIN_INSYNC_REPLICAS` | verify | `1` | min ISR |\n"
	if out.String() != want {
		t.Fatalf("MarkdownCommands wrote\n%s\nwant\n%s", out.String(), want)
	}
}

func TestMarkdownCommandsRefusesOneVariableWithTwoDefaults(t *testing.T) {
	type a struct {
		Format string `envconfig:"LOG_FORMAT" default:"json" desc:"format"`
	}
	type b struct {
		Format string `envconfig:"LOG_FORMAT" default:"text" desc:"format"`
	}
	err := MarkdownCommands(&bytes.Buffer{}, Command{"a", &a{}}, Command{"b", &b{}})
	if err == nil || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Fatalf("MarkdownCommands = %v, want an error naming LOG_FORMAT", err)
	}
}

func TestReplaceSection(t *testing.T) {
	begin, end := SectionBegin("p"), SectionEnd("p")
	tests := []struct {
		name string
		doc  string
		want string // "" = an error
	}{
		{"replaces only between the markers",
			"# t\nprose\n" + begin + "\nold\nrows\n" + end + "\nmore prose\n",
			"# t\nprose\n" + begin + "\nNEW\n" + end + "\nmore prose\n"},
		{"rewrites a short begin line",
			"<!-- settings:p begin -->\nold\n" + end + "\n",
			begin + "\nNEW\n" + end + "\n"},
		{"leaves other sections alone",
			SectionBegin("pp") + "\nx\n" + SectionEnd("pp") + "\n" + begin + "\n" + end + "\n",
			SectionBegin("pp") + "\nx\n" + SectionEnd("pp") + "\n" + begin + "\nNEW\n" + end + "\n"},
		{"no markers", "# t\n", ""},
		{"no end", begin + "\n", ""},
		{"end before begin", end + "\n" + begin + "\n", ""},
		{"two begins", begin + "\n" + begin + "\n" + end + "\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplaceSection([]byte(tc.doc), "p", []byte("NEW\n"))
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("ReplaceSection = %q, want an error", got)
			case tc.want != "" && err != nil:
				t.Fatalf("ReplaceSection: %v", err)
			case string(got) != tc.want:
				t.Fatalf("ReplaceSection =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
