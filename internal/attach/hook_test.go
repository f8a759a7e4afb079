package attach

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A domain with one tap (vnet7) whose metadata also declares interfaces
// that are not its taps: the bridge, an uplink, the tap of another VM.
const hookDomain = `<domain type='kvm'>
  <name>vm7</name>
  <metadata>
    <evpnhost:attach xmlns:evpnhost="https://github.com/evpnhost/evpnhost"
       interface="vnet7" network="red/web" ips="10.1.10.77 fd00:10::77"/>
    <evpnhost:attach xmlns:evpnhost="https://github.com/evpnhost/evpnhost" interface="evpnbr" network="red/web"/>
    <evpnhost:attach xmlns:evpnhost="https://github.com/evpnhost/evpnhost" interface="eth0" network="red/web" mode="routed"/>
    <evpnhost:attach xmlns:evpnhost="https://github.com/evpnhost/evpnhost" interface="vnet8" network="red/web"/>
  </metadata>
  <devices>
    <disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'>
      <mac address='52:54:00:00:10:77'/>
      <target dev='vnet7' managed='no'/>
    </interface>
  </devices>
</domain>
`

// TestLibvirtHookOwnTapsOnly runs contrib/libvirt-qemu-hook with a fake
// evpnhost: it attaches and detaches only the domain's own <target dev>.
func TestLibvirtHookOwnTapsOnly(t *testing.T) {
	for _, tool := range []string{"sh", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "evpnhost")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\" >>"+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hook, err := filepath.Abs("../../contrib/libvirt-qemu-hook")
	if err != nil {
		t.Fatal(err)
	}
	for op, want := range map[string]string{
		"started": "attach --network red/web --interface vnet7 --mode bridged --mac 52:54:00:00:10:77 --ip 10.1.10.77 --ip fd00:10::77\n",
		"stopped": "detach --interface vnet7\n",
		"prepare": "",
	} {
		_ = os.Remove(log)
		cmd := exec.Command("sh", hook, "vm7", op, "begin", "-")
		cmd.Stdin = strings.NewReader(hookDomain)
		cmd.Env = append(os.Environ(), "EVPNHOST="+fake, "EVPNHOST_FLAGS=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", op, err, out)
		}
		got, _ := os.ReadFile(log)
		if string(got) != want {
			t.Errorf("%s: evpnhost called with\n%s\nwant\n%s", op, got, want)
		}
		if want != "" && !strings.Contains(string(out), "evpnbr is not a <target dev>") {
			t.Errorf("%s: no warning about evpnbr:\n%s", op, out)
		}
	}
}
