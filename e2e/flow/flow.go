// Package flow sends a paced UDP flow with sequence numbers from one
// network namespace to another and measures what a fault did to it:
// packets lost and the outage (the longest run of lost packets, as time).
// The lab's fault tests (e2e) and the failover benchmark
// (evpnhost-bench failover) use it between workload namespaces.
//
// Both sockets belong to the calling process (each opened inside its
// namespace), so the send times of the sender and the sequence numbers
// seen by the receiver are compared on one clock: a packet's send time is
// recorded by the sender, the receiver only marks its sequence number as
// received.
package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/evpnhost/evpnhost/internal/policy/policytest"
)

// Config is one direction of traffic.
type Config struct {
	FromNS, ToNS string         // network namespaces (ip netns names)
	From         netip.AddrPort // source address and port, in FromNS
	To           netip.AddrPort // destination, bound in ToNS
	Interval     time.Duration  // between packets (default 1 ms)
}

// Flow is a running flow. Its methods are safe for concurrent use.
type Flow struct {
	cfg      Config
	send     *net.UDPConn
	recv     *net.UDPConn
	start    time.Time
	stop     chan struct{}
	sendDone chan struct{}
	recvDone chan struct{}
	sent     atomic.Uint64 // sequence numbers 0..sent-1 have been sent
	stopOnce sync.Once

	mu     sync.Mutex
	sentAt []time.Duration // per sequence number, since start
	got    []uint8         // per sequence number: times received
}

// Start opens both sockets in their namespaces and starts sending.
func Start(cfg Config) (*Flow, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Millisecond
	}
	f := &Flow{cfg: cfg, stop: make(chan struct{}), sendDone: make(chan struct{}), recvDone: make(chan struct{})}
	err := policytest.In(cfg.ToNS, func() error {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.To))
		f.recv = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("flow: receiver in %s: %w", cfg.ToNS, err)
	}
	// Bursts after a stall of the (emulated) machine must not overrun the
	// receiver: a lost packet is the network's doing, never the socket's.
	setReadBuffer(f.recv, 8<<20)
	err = policytest.In(cfg.FromNS, func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(cfg.From), net.UDPAddrFromAddrPort(cfg.To))
		f.send = c
		return err
	})
	if err != nil {
		f.recv.Close()
		return nil, fmt.Errorf("flow: sender in %s: %w", cfg.FromNS, err)
	}
	f.start = time.Now()
	go f.receive()
	go f.sendLoop()
	return f, nil
}

// setReadBuffer sets the receive buffer beyond net.core.rmem_max when
// allowed (root: SO_RCVBUFFORCE), else as far as rmem_max.
func setReadBuffer(c *net.UDPConn, n int) {
	if rc, err := c.SyscallConn(); err == nil {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
		}); err == nil && serr == nil {
			return
		}
	}
	_ = c.SetReadBuffer(n)
}

// packet: 8 bytes sequence number, padded to 64 bytes.
const packetSize = 64

func (f *Flow) sendLoop() {
	defer close(f.sendDone)
	buf := make([]byte, packetSize)
	next := time.Duration(0)
	for seq := uint64(0); ; seq++ {
		select {
		case <-f.stop:
			return
		default:
		}
		now := time.Since(f.start)
		if now < next {
			time.Sleep(next - now)
			now = time.Since(f.start)
		}
		// Paced on a schedule, but never bursting to catch up after a
		// stall of the sender itself: that is not the network's outage.
		if now-next > 10*f.cfg.Interval {
			next = now
		}
		next += f.cfg.Interval
		binary.BigEndian.PutUint64(buf, seq)
		f.mu.Lock()
		f.sentAt = append(f.sentAt, now)
		f.got = append(f.got, 0)
		f.mu.Unlock()
		f.sent.Store(seq + 1)
		// A send error (no route for a moment, ICMP unreachable reported
		// on the connected socket) is a lost packet like any other.
		_, _ = f.send.Write(buf)
	}
}

func (f *Flow) receive() {
	defer close(f.recvDone)
	buf := make([]byte, 2048)
	for {
		n, err := f.recv.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < 8 {
			continue
		}
		seq := binary.BigEndian.Uint64(buf)
		f.mu.Lock()
		if seq < uint64(len(f.got)) && f.got[seq] < 255 {
			f.got[seq]++
		}
		f.mu.Unlock()
	}
}

// Seq is the next sequence number to be sent: a mark for Window.
func (f *Flow) Seq() uint64 { return f.sent.Load() }

// Healthy tells whether the packets sent during the last d (but at
// least 10 intervals before now, so that they had time to arrive)
// all arrived, and at least one was sent.
func (f *Flow) Healthy(d time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Since(f.start)
	hi := now - 10*f.cfg.Interval
	n := 0
	for i := len(f.sentAt) - 1; i >= 0 && f.sentAt[i] >= hi-d; i-- {
		if f.sentAt[i] > hi {
			continue
		}
		if f.got[i] == 0 {
			return false
		}
		n++
	}
	return n > 0
}

// Stop stops sending, waits drain for packets in flight, closes the
// sockets and returns the statistics of the whole flow. Calling it again
// only returns them.
func (f *Flow) Stop(drain time.Duration) Stats {
	f.stopOnce.Do(func() {
		close(f.stop)
		<-f.sendDone
		time.Sleep(drain)
		f.recv.Close()
		f.send.Close()
		<-f.recvDone
	})
	return f.Window(0, f.Seq())
}

// Stats describe the packets of a window of sequence numbers.
type Stats struct {
	Sent     int           `json:"sent"`
	Received int           `json:"received"`
	Lost     int           `json:"lost"`
	Dups     int           `json:"dups"`
	Outage   time.Duration `json:"outage_ns"` // longest run of lost packets: from the send time of its first packet to that of the next received one
	// OutageAt is when that run began: the send time of its first packet,
	// from the window's first packet (where in a fault the loss was).
	OutageAt time.Duration `json:"outage_at_ns"`
	Rate     float64       `json:"rate_pps"` // packets sent per second
}

func (s Stats) String() string {
	at := ""
	if s.Outage > 0 {
		at = " from +" + s.OutageAt.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%d/%d received, %d lost, outage %s%s, %d duplicates, %.0f packets/s",
		s.Received, s.Sent, s.Lost, s.Outage.Round(100*time.Microsecond), at, s.Dups, s.Rate)
}

// outage records a run of losses of length d that began at, if it is the
// longest so far (the first of equal ones).
func (s *Stats) outage(d, at time.Duration) {
	if d > s.Outage {
		s.Outage, s.OutageAt = d, at
	}
}

// Window is the statistics of sequence numbers [from, to). A run of
// losses at the window's end counts until the last packet sent.
func (f *Flow) Window(from, to uint64) Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return window(f.sentAt, f.got, from, to)
}

func window(sentAt []time.Duration, got []uint8, from, to uint64) Stats {
	if to > uint64(len(sentAt)) {
		to = uint64(len(sentAt))
	}
	var s Stats
	if from >= to {
		return s
	}
	s.Sent = int(to - from)
	runStart := -1
	for i := int(from); i < int(to); i++ {
		if got[i] == 0 {
			s.Lost++
			if runStart < 0 {
				runStart = i
			}
			continue
		}
		s.Received++
		s.Dups += int(got[i]) - 1
		if runStart >= 0 {
			s.outage(sentAt[i]-sentAt[runStart], sentAt[runStart]-sentAt[from])
			runStart = -1
		}
	}
	if runStart >= 0 {
		// lost until the end: until the next packet sent after the window
		// when there is one, else the last one sent
		end := sentAt[to-1]
		if int(to) < len(sentAt) {
			end = sentAt[to]
		}
		s.outage(end-sentAt[runStart], sentAt[runStart]-sentAt[from])
	}
	if d := sentAt[to-1] - sentAt[from]; d > 0 {
		s.Rate = float64(s.Sent-1) / d.Seconds()
	}
	return s
}
