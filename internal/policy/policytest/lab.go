// Package policytest builds the small test fabric of the policy tests and
// benchmark: a "host" network namespace with a plain bridge, and one
// namespace per workload joined to it by a veth whose host end is the
// workload port. Root only; everything lives in namespaces it creates.
package policytest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// Workload is one workload namespace.
type Workload struct {
	Name  string // namespace name
	Port  string // host-side veth, a port of the bridge
	Addr  string // IPv4 address (the namespace has it as /16)
	Addr6 string // IPv6 address (/16 too), "" for none
}

// Lab is the fabric.
type Lab struct {
	Host      string // host namespace name
	Workloads map[string]*Workload
	suffix    string
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// New builds the host namespace and bridge. Call Close to remove all.
func New() (*Lab, error) {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	l := &Lab{suffix: hex.EncodeToString(b), Workloads: map[string]*Workload{}}
	l.Host = "evpt-h-" + l.suffix
	for _, a := range [][]string{
		{"netns", "add", l.Host},
		{"-n", l.Host, "link", "set", "lo", "up"},
		{"-n", l.Host, "link", "add", "br0", "type", "bridge"},
		{"-n", l.Host, "link", "set", "br0", "up"},
	} {
		if err := ip(a...); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// Add creates a workload namespace named after name with the given
// addresses, and its port on the bridge.
func (l *Lab) Add(name, port, addr, addr6 string) (*Workload, error) {
	w := &Workload{Name: "evpt-" + name + "-" + l.suffix, Port: port, Addr: addr, Addr6: addr6}
	cmds := [][]string{
		{"netns", "add", w.Name},
		{"-n", w.Name, "link", "set", "lo", "up"},
		{"-n", l.Host, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", w.Name},
		{"-n", w.Name, "addr", "add", addr + "/16", "dev", "eth0"},
		{"-n", w.Name, "link", "set", "eth0", "up"},
		{"-n", l.Host, "link", "set", port, "master", "br0", "up"},
	}
	if addr6 != "" {
		cmds = append(cmds, []string{"-n", w.Name, "addr", "add", addr6 + "/16", "dev", "eth0", "nodad"})
	}
	for _, a := range cmds {
		if err := ip(a...); err != nil {
			return nil, err
		}
	}
	l.Workloads[name] = w
	return w, nil
}

// Close removes every namespace (their devices go with them).
func (l *Lab) Close() {
	for _, w := range l.Workloads {
		_ = ip("netns", "del", w.Name)
	}
	_ = ip("netns", "del", l.Host)
}

// HostNS opens the host namespace (close it after use).
func (l *Lab) HostNS() (netns.NsHandle, error) { return netns.GetFromName(l.Host) }

// In runs f on a locked OS thread inside namespace name. Sockets made by
// f stay in that namespace.
func In(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked on purpose when the switch back fails:
		// the runtime then discards it.
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		err = f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Listen opens a TCP echo server on addr:port in workload w. Close the
// listener to stop it.
func (w *Workload) Listen(addr string, port int) (net.Listener, error) {
	var ln net.Listener
	err := In(w.Name, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
		return err
	})
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln, nil
}

// Dial connects from workload w to addr:port within timeout.
func (w *Workload) Dial(addr string, port int, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := In(w.Name, func() error {
		var err error
		c, err = net.DialTimeout("tcp", net.JoinHostPort(addr, fmt.Sprint(port)), timeout)
		return err
	})
	return c, err
}

// Echo sends a line over c and waits for it to come back.
func Echo(c net.Conn, timeout time.Duration) error {
	msg := []byte("evpnhost policy test\n")
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	n := 0
	for n < len(msg) {
		m, err := c.Read(buf[n:])
		if err != nil {
			return err
		}
		n += m
	}
	if string(buf) != string(msg) {
		return fmt.Errorf("echo: got %q", buf)
	}
	return nil
}

// Ping sends count ICMP echo requests from w to addr and reports whether
// a reply came.
func (w *Workload) Ping(addr string) bool {
	return exec.Command("ip", "netns", "exec", w.Name, "ping", "-c", "1", "-W", "1", addr).Run() == nil
}
