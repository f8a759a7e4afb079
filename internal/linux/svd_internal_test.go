package linux

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/internal/kernel"
)

// TestPrivilegedVNIFilterMessages: the raw messages of the single VXLAN
// device that need no VLAN-aware bridge (so they run on kernels without
// 802.1Q too): create with vnifilter, read the flag back, add VNI filter
// entries in ranges and alone, read them back, delete some (and one that
// is not there), and the reading of a device without vnifilter.
func TestPrivilegedVNIFilterMessages(t *testing.T) {
	InNetns(t, func() { vniFilterMessages(t) })
}

func vniFilterMessages(t *testing.T) {
	n, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	d := kernel.Link{Name: "svd0", Kind: kernel.KindVXLAN, VNIFilter: true, Local: netip.MustParseAddr("10.0.0.1"), MTU: 1450, MAC: "02:ee:0a:00:00:01"}
	if err := n.createSingle(d); err != nil {
		t.Fatalf("create: %v", err)
	}
	l, err := n.h.LinkByName("svd0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Attrs()
	if a.MTU != 1450 || a.HardwareAddr.String() != d.MAC {
		t.Errorf("mtu %d address %s", a.MTU, a.HardwareAddr)
	}
	if on, err := n.vniFiltered(a.Index); err != nil || !on {
		t.Fatalf("vnifilter read back %v, %v", on, err)
	}
	want := []uint32{10, 11, 12, 20, 4001, 16000000}
	if err := n.setVNIFilter(a.Index, want, true); err != nil {
		t.Fatalf("add vnis: %v", err)
	}
	got, err := n.vniFilter(a.Index)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("vnis read back %v (%v), want %v", got, err, want)
	}
	if err := n.setVNIFilter(a.Index, []uint32{11, 20, 777}, false); err != nil {
		t.Fatalf("delete vnis: %v", err)
	}
	if got, _ := n.vniFilter(a.Index); !slices.Equal(got, []uint32{10, 12, 4001, 16000000}) {
		t.Fatalf("after delete: %v", got)
	}
	// Many entries, more than one batch.
	var many []uint32
	for i := range 3000 {
		many = append(many, uint32(100000+2*i))
	}
	w := n.Writes
	if err := n.setVNIFilter(a.Index, many, true); err != nil {
		t.Fatal(err)
	}
	if n.Writes-w != (3000+batch-1)/batch {
		t.Errorf("3000 VNIs took %d writes, want %d", n.Writes-w, (3000+batch-1)/batch)
	}
	if got, _ := n.vniFilter(a.Index); len(got) != 3004 {
		t.Fatalf("read back %d VNIs, want 3004", len(got))
	}
	// A device without vnifilter.
	if err := n.h.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	d.VNIFilter = false
	if err := n.create(kernel.Link{Name: "vx10", Kind: kernel.KindVXLAN, VNI: 10, Local: d.Local}); err == nil {
		t.Fatal("creating a per-VNI device without a bridge must fail at its port flags")
	}
	vx, err := n.h.LinkByName("vx10")
	if err != nil {
		t.Fatal(err)
	}
	if on, err := n.vniFiltered(vx.Attrs().Index); err != nil || on {
		t.Fatalf("vx10: vnifilter %v, %v", on, err)
	}
}

// TestAFSpecWrapped: IFLA_AF_SPEC is found after other attributes, also
// when its payload exceeds 64 KiB and its 16-bit length wrapped.
func TestAFSpecWrapped(t *testing.T) {
	attr := func(typ uint16, payload []byte) []byte {
		b := make([]byte, 4, 4+len(payload)+3)
		binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(payload))) // wraps beyond 64 KiB
		binary.NativeEndian.PutUint16(b[2:4], typ)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	var inner []byte
	for v := 1; v <= 9000; v++ { // 9000 * 8 bytes = 72 KB
		vi := make([]byte, 4)
		binary.NativeEndian.PutUint16(vi[2:4], uint16(v))
		inner = append(inner, attr(iflaBridgeVLANInfo, vi)...)
	}
	msg := append(attr(unix.IFLA_IFNAME, []byte("evpnvx\x00")), attr(unix.IFLA_AF_SPEC|unix.NLA_F_NESTED, inner)...)
	got := afSpec(msg)
	if len(got) != len(inner) {
		t.Fatalf("payload %d bytes, want %d", len(got), len(inner))
	}
	if afSpec(attr(unix.IFLA_IFNAME, []byte("x\x00"))) != nil {
		t.Fatal("found an AF_SPEC that is not there")
	}
}
