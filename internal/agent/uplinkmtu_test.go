package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/plan"
)

// checkUplinks logs an uplink MTU problem once when it appears, again
// when it changes, and once when it is gone; a failing check is logged.
func TestCheckUplinksLogsChanges(t *testing.T) {
	var buf bytes.Buffer
	var issues []plan.UplinkIssue
	var fail error
	a := &Agent{UplinkCheck: func(*api.Intent) ([]plan.UplinkIssue, error) { return issues, fail }}
	l := &loop{a: a, log: slog.New(slog.NewTextHandler(&buf, nil))}
	in := intent("h1")
	take := func() string { s := buf.String(); buf.Reset(); return s }

	l.checkUplinks(in)
	if got := take(); got != "" {
		t.Errorf("no problem: logged %q", got)
	}
	issues = []plan.UplinkIssue{{Uplink: "up1", MTU: 1400, Need: 1500, Problem: "MTU 1400 is below the 1500 VXLAN needs"}}
	l.checkUplinks(in)
	if got := take(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "op=uplink-mtu") ||
		!strings.Contains(got, "uplink=up1") || !strings.Contains(got, "mtu=1400") || !strings.Contains(got, "need=1500") {
		t.Errorf("problem appeared: logged %q, want a WARN op=uplink-mtu uplink=up1 mtu=1400 need=1500", got)
	}
	l.checkUplinks(in)
	if got := take(); got != "" {
		t.Errorf("same problem again: logged %q, want nothing (once per change)", got)
	}
	issues[0].MTU = 1300
	l.checkUplinks(in)
	if got := take(); !strings.Contains(got, "mtu=1300") {
		t.Errorf("MTU changed: logged %q, want mtu=1300", got)
	}
	fail = errors.New("netlink: boom")
	l.checkUplinks(in)
	if got := take(); !strings.Contains(got, "uplink check failed") || !strings.Contains(got, "boom") {
		t.Errorf("failing check: logged %q", got)
	}
	fail, issues = nil, nil
	l.checkUplinks(in)
	if got := take(); !strings.Contains(got, "level=INFO") || !strings.Contains(got, "uplink=up1") || !strings.Contains(got, "again") {
		t.Errorf("problem gone: logged %q, want an INFO for up1", got)
	}
	l.checkUplinks(in)
	if got := take(); got != "" {
		t.Errorf("still fine: logged %q", got)
	}
}
