package frr

import (
	"context"
	"strings"
	"testing"
)

// scripted answers a vtysh run with fixed output and records its arguments.
type scripted struct {
	out  string
	args []string
}

func (s *scripted) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	s.args = append([]string{name}, args...)
	return []byte(s.out), nil
}

// TestJSONAll: several show commands go to one vtysh (of the instance's
// pathspace), each printed value lands in its own target, and output that
// is not one value per command is an error that decodes nothing.
func TestJSONAll(t *testing.T) {
	run := &scripted{out: "{\"a\": 1}\n{\n \"b\": [2, 3]\n}\n"}
	i := NewInstance("h1")
	i.Run = run
	var a struct{ A int }
	var b map[string][]int
	if err := i.JSONAll(context.Background(), []string{"show a json", "show b json"}, []any{&a, &b}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(run.args, " "); got != "vtysh -N h1 -c show a json -c show b json" {
		t.Errorf("ran %q", got)
	}
	if a.A != 1 || len(b["b"]) != 2 || b["b"][1] != 3 {
		t.Errorf("decoded a=%+v b=%v", a, b)
	}
	for _, out := range []string{"{\"a\": 1}\n", "{\"a\": 1}\n% Unknown command\n", "{\"a\": 1}{}{}"} {
		run.out = out
		var a2 struct{ A int }
		var b2 map[string][]int
		if err := i.JSONAll(context.Background(), []string{"show a json", "show b json"}, []any{&a2, &b2}); err == nil {
			t.Errorf("output %q: no error", out)
		} else if a2.A != 0 || b2 != nil {
			t.Errorf("output %q: decoded although it failed: %+v %v", out, a2, b2)
		}
	}
}
