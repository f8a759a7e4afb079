package ebpf

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -type config -type port_key -type port_val -type lpm_key -type class_val -type rule -type counter -type ct_key -type ct_val policy bpf/policy.c -- -I/usr/include/x86_64-linux-gnu
