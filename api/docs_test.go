package api

import (
	"os"
	"strings"
	"testing"
)

// TestDocExamples validates every ```yaml block of docs/intent.md.
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/intent.md")
	if err != nil {
		t.Skip(err)
	}
	blocks := strings.Split(string(data), "```yaml\n")[1:]
	if len(blocks) == 0 {
		t.Fatal("no yaml examples in docs/intent.md")
	}
	for i, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		in, err := Parse([]byte(b))
		if err == nil {
			err = in.Validate()
		}
		if err != nil {
			t.Errorf("example %d: %v\n%s", i, err, b)
		}
	}
}
