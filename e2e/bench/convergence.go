package bench

import "time"

// ConvSample is one measurement of the lab convergence benchmark
// (e2e/bench_convergence_test.go writes them, `evpnhost-bench
// convergence` renders them into docs/benchmarks.md).
type ConvSample struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Seconds  float64 `json:"seconds"`
}

// ConvResults is the file the convergence benchmark writes.
type ConvResults struct {
	Host    string       `json:"host"`
	Started time.Time    `json:"started"`
	Reps    int          `json:"reps"`
	Samples []ConvSample `json:"samples"`
}
