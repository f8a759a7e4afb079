package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubeCommands: the agent's Kubernetes flags are checked before
// anything runs; kube export and nad print manifests.
func TestKubeCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"agent", "--kubeconfig", "k", "-f", "x.yaml"}, exitInvalid, "give one intent source"},
		{[]string{"agent", "--kubeconfig", "k", "--kube-in-cluster", "--host", "h1"}, exitInvalid, "either --kubeconfig FILE or --kube-in-cluster"},
		{[]string{"agent", "--kubeconfig", "k"}, exitInvalid, "--host NODE is required"},
		{[]string{"agent", "--kubeconfig", "/nonexistent/kubeconfig", "--host", "node1.example.com"}, exitInvalid, "kubeconfig /nonexistent/kubeconfig"},
		{[]string{"kube", "nad", "--network", "red"}, exitInvalid, "give TENANT/NETWORK"},
		{[]string{"kube", "nad", "--network", "red/web", "--namespace", "apps"}, exitOK, `"type":"evpnhost-cni"`},
		{[]string{"kube", "export", "-f", filepath.Join("..", "..", "api", "testdata", "valid", "two-tenants.yaml")}, exitOK, "name: red.app"},
	} {
		out, code := cli(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("evpnhost %s: exit %d, want %d with %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("host: {name: h1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, "kube", "export", "-f", bad); code != exitInvalid || !strings.Contains(out, "host.asn") {
		t.Errorf("export of an invalid intent: exit %d\n%s", code, out)
	}
}
