// Package bench holds twine's go test benchmarks, each with a raw TCP
// baseline in the same run where one applies: single-stream throughput by
// write size, N-stream aggregate throughput and fairness, small-message
// round-trip latency (idle and under a bulk transfer on the same session),
// stream open/close rate, allocations per Write+Read, and idle memory per
// open stream. README.md gives the commands; the workloads themselves are in
// bench/internal/workload, shared with the comparison program in
// bench/compare.
package bench
