package kube

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// The field reference in docs/kubernetes.md is generated from the CRDs
// (their schemas carry the types' doc comments and markers) between these
// lines.
const (
	refBegin = "<!-- BEGIN GENERATED REFERENCE (go test ./internal/kube -run TestReference -args -update) -->\n"
	refEnd   = "<!-- END GENERATED REFERENCE -->\n"
)

// TestReference checks that docs/kubernetes.md's field reference is the
// one the committed CRDs give.
func TestReference(t *testing.T) {
	var b bytes.Buffer
	for _, kind := range []string{"tenants", "networks", "hostunderlays"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "contrib", "kubernetes", "crds", "evpnhost.io_"+kind+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
			t.Fatal(err)
		}
		v := crd.Spec.Versions[0]
		root := v.Schema.OpenAPIV3Schema
		fmt.Fprintf(&b, "### %s (`%s`, %s)\n\n", crd.Spec.Names.Kind, crd.Name, strings.ToLower(string(crd.Spec.Scope)))
		fmt.Fprintf(&b, "%s\n\n", oneLine(root.Description))
		for _, r := range root.XValidations {
			fmt.Fprintf(&b, "- API server rule: `%s` (%s)\n", r.Rule, r.Message)
		}
		if len(root.XValidations) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("| field | type | required | rules | meaning |\n|---|---|---|---|---|\n")
		for _, part := range []string{"spec", "status"} {
			if s, ok := root.Properties[part]; ok {
				refFields(&b, part, s, slices.Contains(root.Required, part))
			}
		}
		if len(v.AdditionalPrinterColumns) > 0 {
			var cols []string
			for _, c := range v.AdditionalPrinterColumns {
				cols = append(cols, fmt.Sprintf("%s (`%s`)", c.Name, c.JSONPath))
			}
			fmt.Fprintf(&b, "\n`kubectl get %s` columns: NAME, %s.\n", crd.Spec.Names.Plural, strings.Join(cols, ", "))
		}
		b.WriteString("\n")
	}
	doc := filepath.Join("..", "..", "docs", "kubernetes.md")
	cur, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(cur, []byte(refBegin)), bytes.Index(cur, []byte(refEnd))
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated reference markers", doc)
	}
	want := append(append(append([]byte{}, cur[:i+len(refBegin)]...), b.Bytes()...), cur[j:]...)
	if *update {
		if err := os.WriteFile(doc, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(cur, want) {
		t.Fatalf("the field reference in %s is not the CRDs': go test ./internal/kube -run TestReference -args -update", doc)
	}
}

func refFields(b *bytes.Buffer, path string, s apiextv1.JSONSchemaProps, required bool) {
	if path != "spec" && path != "status" {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", path, typeOf(s), yesNo(required), rules(s), cell(s.Description))
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		refFields(b, path+"."+n, s.Properties[n], slices.Contains(s.Required, n))
	}
	if s.Items != nil && s.Items.Schema != nil && len(s.Items.Schema.Properties) > 0 && path != "status.conditions" {
		it := *s.Items.Schema
		names := make([]string, 0, len(it.Properties))
		for n := range it.Properties {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			refFields(b, path+"[]."+n, it.Properties[n], slices.Contains(it.Required, n))
		}
	}
}

func typeOf(s apiextv1.JSONSchemaProps) string {
	switch {
	case s.Type == "array" && s.Items != nil && s.Items.Schema != nil:
		return "[]" + typeOf(*s.Items.Schema)
	case s.Type == "object" && s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil:
		return "map[string]" + typeOf(*s.AdditionalProperties.Schema)
	}
	return s.Type
}

func rules(s apiextv1.JSONSchemaProps) string {
	var out []string
	if s.Minimum != nil || s.Maximum != nil {
		lo, hi := "", ""
		if s.Minimum != nil {
			lo = strconv.FormatFloat(*s.Minimum, 'f', -1, 64)
		}
		if s.Maximum != nil {
			hi = strconv.FormatFloat(*s.Maximum, 'f', -1, 64)
		}
		out = append(out, lo+".."+hi)
	}
	if s.MinLength != nil {
		out = append(out, fmt.Sprintf("minLength %d", *s.MinLength))
	}
	if s.MaxLength != nil {
		out = append(out, fmt.Sprintf("maxLength %d", *s.MaxLength))
	}
	if s.MinItems != nil {
		out = append(out, fmt.Sprintf("minItems %d", *s.MinItems))
	}
	if s.MaxItems != nil {
		out = append(out, fmt.Sprintf("maxItems %d", *s.MaxItems))
	}
	if s.Pattern != "" {
		out = append(out, "pattern `"+s.Pattern+"`")
	}
	if len(s.Enum) > 0 {
		var e []string
		for _, v := range s.Enum {
			e = append(e, strings.Trim(string(v.Raw), `"`))
		}
		out = append(out, "one of "+strings.Join(e, ", "))
	}
	if s.Items != nil && s.Items.Schema != nil && s.Type == "array" {
		it := s.Items.Schema
		if it.MaxLength != nil || it.Pattern != "" {
			var r []string
			if it.MaxLength != nil {
				r = append(r, fmt.Sprintf("maxLength %d", *it.MaxLength))
			}
			if it.Pattern != "" {
				r = append(r, "pattern `"+it.Pattern+"`")
			}
			out = append(out, "items: "+strings.Join(r, ", "))
		}
	}
	for _, v := range s.XValidations {
		out = append(out, "CEL `"+strings.ReplaceAll(v.Rule, "|", `\|`)+"`")
	}
	return strings.Join(out, "; ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func cell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }
