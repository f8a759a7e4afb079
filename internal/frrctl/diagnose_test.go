package frrctl

import (
	"context"
	"errors"
	"strings"
	"testing"
)

const traceback = `Traceback (most recent call last):
  File "/usr/lib/frr/frr-reload.py", line 2300, in <module>
    running.load_from_show_running(args.daemon)
  File "/usr/lib/frr/frr-reload.py", line 167, in mark_show_run
    raise VtyshException(
VtyshException: vtysh (mark running-config) exited with status 13`

// hostFRR models what matters here of FRR's daemons: their hostname, which
// they print into the running configuration and which vtysh cannot change,
// and frr-reload.py, which fails (as the real one does, with a traceback)
// while that hostname is one FRR's parser refuses.
type hostFRR struct {
	hostname string
	ran      []string
}

func (h *hostFRR) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	h.ran = append(h.ran, name+" "+strings.Join(args, " "))
	switch {
	case name == "vtysh" && strings.Contains(strings.Join(args, " "), "show running-config"):
		return []byte("Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nhostname " + h.hostname + "\nhostname h1\n!\nend\n"), nil
	case name == "vtysh":
		return nil, nil
	case !validHostname(h.hostname):
		return nil, errors.New("exit status 1: " + summarize(traceback))
	}
	return []byte("\nLines To Delete\n===============\n\nLines To Add\n============\nhostname h1\n"), nil
}

// TestHostnameDiagnosed: FRR started on a machine whose hostname was not
// set (its daemons say "(none)", which frr-reload.py chokes on): Test and
// Apply say what is wrong and how to fix it, in one line, without the
// traceback; with a valid hostname they succeed.
func TestHostnameDiagnosed(t *testing.T) {
	for _, host := range []string{"(none)", "-x", ".local"} {
		for _, inst := range []string{"", "h1"} {
			h := &hostFRR{hostname: host}
			i := NewInstance(inst)
			i.Run = h
			_, err := i.Test(context.Background(), "hostname h1\n")
			if err == nil {
				t.Fatalf("%s: Test succeeded", host)
			}
			restart := "systemctl restart frr"
			if inst != "" {
				restart = "restart FRR's pathspace h1"
			}
			msg := err.Error()
			for _, w := range []string{"FRR's daemons run with hostname \"" + host + "\"", "hostnamectl set-hostname", restart} {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: error lacks %q: %s", host, w, msg)
				}
			}
			if strings.Contains(msg, "\n") || strings.Contains(msg, "Traceback") {
				t.Errorf("%s: not one line: %s", host, msg)
			}
			if err := i.Apply(context.Background(), "hostname h1\n", nil); err == nil || !strings.Contains(err.Error(), "FRR's daemons run with hostname") {
				t.Errorf("%s: Apply: %v", host, err)
			}
		}
	}
	h := &hostFRR{hostname: "h1"}
	i := NewInstance("")
	i.Run = h
	if _, err := i.Test(context.Background(), "hostname h1\n"); err != nil {
		t.Errorf("valid hostname: %v", err)
	}
}

// TestReloadFailureKept: with a valid hostname a frr-reload.py failure is
// returned as it is, its traceback reduced to the exception; nothing is
// reconfigured.
func TestReloadFailureKept(t *testing.T) {
	h := &hostFRR{hostname: "h1"}
	i := NewInstance("")
	i.Run = byOutput{err: errors.New("exit status 1: " + summarize(traceback)), vtysh: h}
	_, err := i.Test(context.Background(), "hostname h1\n")
	if err == nil || !strings.Contains(err.Error(), "frr-reload --test") || !strings.HasSuffix(err.Error(), "exited with status 13") {
		t.Fatalf("Test: %v", err)
	}
	for _, r := range h.ran {
		if strings.Contains(r, "configure terminal") {
			t.Errorf("reconfigured: %s", r)
		}
	}
	if got := summarize("line 1: % Unknown command\nline 2"); got != "line 1: % Unknown command\nline 2" {
		t.Errorf("summarize changed plain output: %q", got)
	}
}

// byOutput fails every frr-reload.py run; vtysh goes to vtysh.
type byOutput struct {
	err   error
	vtysh *hostFRR
}

func (b byOutput) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if name == "vtysh" {
		return b.vtysh.Run(ctx, name, args...)
	}
	return nil, b.err
}

func TestValidHostname(t *testing.T) {
	for name, want := range map[string]bool{"edge-7": true, "7edge": true, "Edge": true, "(none)": false, "": false, "-a": false, "_a": false} {
		if got := validHostname(name); got != want {
			t.Errorf("validHostname(%q) = %v", name, got)
		}
	}
}

// TestVtyshOwnNotAChange: frr-reload.py's delta adding only `service
// integrated-vtysh-config` (vtysh's own, never in the running configuration
// with an empty vtysh.conf) is no change: otherwise every apply on FRR set
// up that way reloaded FRR (found by TestDebianFRR).
func TestVtyshOwnNotAChange(t *testing.T) {
	i := NewInstance("")
	i.Run = &scripted{out: "\nLines To Delete\n===============\n\nLines To Add\n============\nservice integrated-vtysh-config\n"}
	d, err := i.Test(context.Background(), "service integrated-vtysh-config\n")
	if err != nil || !d.Empty() {
		t.Fatalf("delta %+v, err %v: want no change", d, err)
	}
	i.Run = &scripted{out: "\nLines To Delete\n===============\n\nLines To Add\n============\nservice integrated-vtysh-config\nhostname h1\n"}
	if d, _ := i.Test(context.Background(), "x\n"); len(d.Add) != 1 || d.Add[0] != "hostname h1" {
		t.Fatalf("delta %+v: want hostname h1 kept", d)
	}
}
