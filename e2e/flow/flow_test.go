package flow

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	ms := time.Millisecond
	sentAt := make([]time.Duration, 10)
	for i := range sentAt {
		sentAt[i] = time.Duration(i) * ms
	}
	//              0  1  2  3  4  5  6  7  8  9
	got := []uint8{1, 1, 0, 0, 0, 1, 2, 0, 1, 0}
	for _, c := range []struct {
		from, to uint64
		want     Stats
	}{
		{0, 10, Stats{Sent: 10, Received: 5, Lost: 5, Dups: 1, Outage: 3 * ms, OutageAt: 2 * ms}},
		{0, 2, Stats{Sent: 2, Received: 2}},
		{3, 6, Stats{Sent: 3, Received: 1, Lost: 2, Outage: 2 * ms, OutageAt: 0}},
		// a run at the end lasts until the next packet sent after it
		{0, 4, Stats{Sent: 4, Received: 2, Lost: 2, Outage: 2 * ms, OutageAt: 2 * ms}},
		// OutageAt is from the window's first packet
		{5, 10, Stats{Sent: 5, Received: 3, Lost: 2, Dups: 1, Outage: 1 * ms, OutageAt: 2 * ms}},
		{9, 10, Stats{Sent: 1, Lost: 1}},
		{5, 5, Stats{}},
		{8, 20, Stats{Sent: 2, Received: 1, Lost: 1}},
	} {
		got := window(sentAt, got, c.from, c.to)
		got.Rate = 0
		if got != c.want {
			t.Errorf("window(%d, %d) = %+v, want %+v", c.from, c.to, got, c.want)
		}
	}
}
