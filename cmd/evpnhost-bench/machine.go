package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemoryMB int    `json:"memory_mib"`
	Kernel   string `json:"kernel"`
	VM       bool   `json:"vm"`
	Host     string `json:"host,omitempty"` // the machine hosting the VM (scripts/bench.sh passes it)
	IPRoute2 string `json:"iproute2"`
	Go       string `json:"go"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Host: os.Getenv("EVPNHOST_BENCH_HOST")}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.Atoi(f[1])
				m.MemoryMB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	h, _ := os.Hostname()
	m.VM = h == "evpnhost-vm" || os.Getenv("EVPNHOST_BENCH_VM") != ""
	if out, err := exec.Command("ip", "-V").Output(); err == nil {
		m.IPRoute2 = strings.TrimSpace(string(out))
	}
	return m
}
