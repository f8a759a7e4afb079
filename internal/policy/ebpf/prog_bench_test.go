package ebpf

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkPrivilegedProgram runs policy_in on one UDP packet through
// BPF_PROG_TEST_RUN (on the loopback device, ifindex 1): the cost of the
// program alone, without the rest of the stack and its noise. Cases: an
// established flow (its connection-table entry is fresh: the path every
// packet after a flow's first takes) and a new flow that the port's
// default denies. Needs root; e.g. in the VM:
// policy-ebpf.test -test.run XXX -test.bench Privileged.
func BenchmarkPrivilegedProgram(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	pin := filepath.Join(b.TempDir(), "bpffs")
	if err := os.MkdirAll(pin, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := unix.Mount("bpf", pin, "bpf", 0, ""); err != nil {
		b.Skipf("mount bpffs: %v", err)
	}
	defer unix.Unmount(pin, unix.MNT_DETACH)
	var objs policyObjects
	if err := loadPolicyObjects(&objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pin}}); err != nil {
		b.Fatal(err)
	}
	defer objs.Close()

	// Ethernet, IPv4 10.1.10.11:40000 -> 10.1.20.11:5201 UDP, 64 bytes payload.
	src, dst := [4]byte{10, 1, 10, 11}, [4]byte{10, 1, 20, 11}
	pkt := make([]byte, 14+20+8+64)
	binary.BigEndian.PutUint16(pkt[12:], unix.ETH_P_IP)
	ip := pkt[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8], ip[9] = 64, unix.IPPROTO_UDP
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 5201)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))

	// The connection-table key as the program builds it: the endpoint
	// whose address (as two native-endian words), then port, sorts first
	// is a.
	var a, z [16]uint8
	copy(a[:], src[:])
	copy(z[:], dst[:])
	ck := policyCtKey{Ifindex: 1, Family: 4, Proto: unix.IPPROTO_UDP, PortA: 40000, PortB: 5201, AddrA: a, AddrB: z}
	if binary.LittleEndian.Uint64(a[:8]) > binary.LittleEndian.Uint64(z[:8]) {
		ck.PortA, ck.PortB, ck.AddrA, ck.AddrB = 5201, 40000, z, a
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		b.Fatal(err)
	}

	// The port is enforced, default deny: a packet that misses the
	// connection table is dropped.
	pk := policyPortKey{Gen: 0, Ifindex: 1}
	if err := objs.PolicyPorts.Update(pk, policyPortVal{}, ebpf.UpdateAny); err != nil {
		b.Fatal(err)
	}

	b.Run("established", func(b *testing.B) {
		if err := objs.PolicyConntrack.Update(ck, policyCtVal{LastSeen: uint64(ts.Nano())}, ebpf.UpdateAny); err != nil {
			b.Fatal(err)
		}
		defer objs.PolicyConntrack.Delete(ck)
		ret, d, err := objs.PolicyIn.Benchmark(pkt, b.N, b.ResetTimer)
		if err != nil {
			b.Fatal(err)
		}
		if ret != 0 { // TC_ACT_OK
			b.Fatalf("verdict %d, want TC_ACT_OK", ret)
		}
		b.ReportMetric(float64(d.Nanoseconds()), "ns/packet")
	})
	b.Run("new-denied", func(b *testing.B) {
		ret, d, err := objs.PolicyIn.Benchmark(pkt, b.N, b.ResetTimer)
		if err != nil {
			b.Fatal(err)
		}
		if ret != 2 { // TC_ACT_SHOT
			b.Fatalf("verdict %d, want TC_ACT_SHOT", ret)
		}
		b.ReportMetric(float64(d.Nanoseconds()), "ns/packet")
	})
}
