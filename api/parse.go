package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse decodes one intent document strictly: unknown fields, a second
// document and an empty input are errors. It does not validate; see Validate
// and Load. Errors carry the YAML line when the decoder reports one, one
// problem per line of the error text.
func Parse(data []byte) (*Intent, error) {
	if err := CheckSize("intent", len(data)); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("intent is empty")
	}
	// First pass: count the documents and reject empty input.
	nodes := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := nodes.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("intent is empty")
		}
		return nil, yamlError(err)
	}
	if isNullDocument(&doc) {
		return nil, errors.New("intent is empty")
	}
	for {
		// Further documents are an error, except empty ones (a trailing ---).
		var extra yaml.Node
		err := nodes.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("only one YAML document is allowed: %w", yamlError(err))
		}
		if !isNullDocument(&extra) {
			return nil, fmt.Errorf("line %d: only one YAML document is allowed", extra.Line)
		}
	}

	// Second pass: decode strictly into the intent.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var in Intent
	if err := dec.Decode(&in); err != nil {
		return nil, yamlError(err)
	}
	return &in, nil
}

// Load reads the intent file at path, parses it and validates it. A
// validation failure is returned as *ValidationError. Parse and validation
// errors do not repeat the path; callers add it when they report.
func Load(path string) (*Intent, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	in, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return in, nil
}

// readLimited reads at most MaxIntentBytes+1 bytes of the file, so that an
// over-size file costs no more memory than the limit before Parse refuses it.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxIntentBytes+1))
}

func isNullDocument(n *yaml.Node) bool {
	if n.Kind == 0 {
		return true
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

var unknownFieldRe = regexp.MustCompile(`^(line \d+: )field (.*) not found in type (\S+)$`)

// yamlError rewrites yaml.v3 errors into one problem per line, naming
// unknown fields with the intent's own vocabulary.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			lines = append(lines, rewriteTypeError(e))
		}
		return errors.New(strings.Join(lines, "\n"))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

var sections = map[string]struct {
	name string
	typ  reflect.Type
}{
	"api.Intent":        {"the intent", reflect.TypeOf(Intent{})},
	"api.Host":          {"host", reflect.TypeOf(Host{})},
	"api.Tenant":        {"a tenant", reflect.TypeOf(Tenant{})},
	"api.RouteTargets":  {"routeTargets", reflect.TypeOf(RouteTargets{})},
	"api.Network":       {"a network", reflect.TypeOf(Network{})},
	"api.Workload":      {"a workload", reflect.TypeOf(Workload{})},
	"api.Import":        {"an import", reflect.TypeOf(Import{})},
	"api.HostMulticast": {"host.multicast", reflect.TypeOf(HostMulticast{})},
}

func rewriteTypeError(msg string) string {
	m := unknownFieldRe.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	s, ok := sections[m[3]]
	if !ok {
		return msg
	}
	return fmt.Sprintf("%sunknown field %s in %s (known: %s)", m[1], quote(m[2]), s.name, strings.Join(yamlFields(s.typ), ", "))
}

func yamlFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}
