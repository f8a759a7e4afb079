// Command tapwire is the lab's stand-in for a hypervisor NIC (what QEMU does
// for a VM with "-netdev tap"): it attaches to a TAP device in the current
// network namespace and relays Ethernet frames both ways between the TAP and
// an AF_PACKET socket bound to another interface (the "wire", a veth whose
// peer is the "VM's" eth0 in the workload namespace).
//
//	ip netns exec h3 tapwire -tap rtap3 -wire rtap3-wire
//
//	  [netns rtap3: eth0] ==veth== [h3: rtap3-wire] <-AF_PACKET-> tapwire <-fd-> [h3: rtap3 (TAP)] -- bridge
//
// The TAP is not persistent (no TUNSETPERSIST): it exists while tapwire
// runs, exactly like a VM's tap while QEMU runs, and has carrier only while
// tapwire holds it open. If a TAP of that name already exists (persistent,
// created by "ip tuntap add"), tapwire attaches to it.
//
// With -vnet-hdr (default) both ends speak the virtio-net header (TAP:
// IFF_VNET_HDR + TUNSETOFFLOAD, socket: PACKET_VNET_HDR), so checksum
// offload (CHECKSUM_PARTIAL frames from the veth) and TSO/GSO frames are
// handed through unchanged, as vhost-net does; without it a frame with a
// not-yet-computed checksum would reach the bridge with a broken checksum.
//
// Exits (status 1) when either side fails, e.g. when the namespace is
// deleted; SIGTERM/SIGINT end it with status 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// TUNSETOFFLOAD flags (linux/if_tun.h); not in golang.org/x/sys v0.10.0.
const (
	tunFCSUM   = 0x01
	tunFTSO4   = 0x02
	tunFTSO6   = 0x04
	tunFTSOECN = 0x08
)

const bufSize = 128 << 10 // > 64 KiB GSO frame + virtio-net header

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openTap attaches to (creating if needed) the TAP device name.
func openTap(name string, vnetHdr bool) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap name %q: %w", name, err)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if vnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	if vnetHdr {
		// Let the kernel hand us partially checksummed / GSO frames (they go
		// to the packet socket with the same header, unchanged).
		off := tunFCSUM | tunFTSO4 | tunFTSO6 | tunFTSOECN
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, off); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("TUNSETOFFLOAD %s: %w", name, err)
		}
	}
	// Blocking fd used from one goroutine per direction (no netpoller).
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// openWire opens an AF_PACKET raw socket bound to interface name.
func openWire(name string, vnetHdr bool) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return -1, fmt.Errorf("wire %s: %w", name, err)
	}
	// Protocol 0 at creation: receive nothing until bound to the interface.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	if vnetHdr {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("PACKET_VNET_HDR: %w", err)
		}
	}
	// Frames the wire itself transmits (including our own) are not for the
	// TAP: only relay what arrives from the peer ("VM"). Best effort (4.20+);
	// the receive loop filters PACKET_OUTGOING as well.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind AF_PACKET to %s: %w", name, err)
	}
	return fd, nil
}

// tapToWire copies every frame read from the TAP to the wire.
func tapToWire(tap *os.File, wire int) error {
	buf := make([]byte, bufSize)
	for {
		n, err := tap.Read(buf)
		if err != nil {
			return fmt.Errorf("read tap: %w", err)
		}
		if err := unix.Send(wire, buf[:n], 0); err != nil {
			// A single bad frame (e.g. too big) is not fatal; a gone
			// interface is.
			if errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("send wire: %w", err)
			}
			log.Printf("tap->wire: dropped %d-byte frame: %v", n, err)
		}
	}
}

// wireToTap copies every frame arriving on the wire to the TAP.
func wireToTap(wire int, tap *os.File) error {
	buf := make([]byte, bufSize)
	for {
		n, from, err := unix.Recvfrom(wire, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("recv wire: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if _, err := tap.Write(buf[:n]); err != nil {
			if errors.Is(err, unix.EBADFD) || errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("write tap: %w", err)
			}
			log.Printf("wire->tap: dropped %d-byte frame: %v", n, err)
		}
	}
}

func main() {
	tapName := flag.String("tap", "", "TAP device to create/attach (in the current netns)")
	wireName := flag.String("wire", "", "interface to bind the AF_PACKET socket to")
	vnetHdr := flag.Bool("vnet-hdr", true, "relay virtio-net headers (checksum/GSO offload) like vhost-net")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("tapwire: ")
	if *tapName == "" || *wireName == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: tapwire -tap NAME -wire IFACE [-vnet-hdr=false]")
		os.Exit(2)
	}
	tap, err := openTap(*tapName, *vnetHdr)
	if err != nil {
		log.Fatal(err)
	}
	wire, err := openWire(*wireName, *vnetHdr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("relaying %s <-> %s (vnet-hdr %v)", *tapName, *wireName, *vnetHdr)

	errc := make(chan error, 2)
	go func() { errc <- tapToWire(tap, wire) }()
	go func() { errc <- wireToTap(wire, tap) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Printf("%v: exiting", s)
	case err := <-errc:
		log.Fatal(err)
	}
}
