// Command compare runs twine's benchmark workloads over twine,
// hashicorp/yamux, libp2p/go-yamux, xtaci/smux, quic-go's native streams and
// raw TCP, in one process on loopback, and prints a markdown table of the
// medians with twine's ratios to raw TCP and to the best other library, the
// settings each library ran with, and an SVG chart of aggregate throughput
// against the number of streams.
//
// Usage:
//
//	go run . [-quick] [-runs N] [-out BENCHMARKS.svg] [-libs twine,smux,...] [-run REGEXP]
//
// -quick runs tiny sizes once, as a smoke test. The workloads are in
// bench/internal/workload, shared with the go test benchmarks of package
// bench.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twinemux/twine/bench/internal/workload"
)

// libraries, in the table's column order; raw first.
var libraries = []library{raw, twineLib, yamuxLib, goYamuxLib, smuxLib, quicLib}

func main() {
	if spec := os.Getenv(workload.PeerEnv); spec != "" {
		os.Exit(servePeer(spec))
	}
	quick := flag.Bool("quick", false, "tiny sizes and one run: a smoke test")
	runs := flag.Int("runs", 3, "runs of each workload per library; the table shows medians")
	out := flag.String("out", "BENCHMARKS.svg", "where to write the chart")
	only := flag.String("libs", "", "comma-separated libraries to run (default all): "+libNames())
	match := flag.String("run", "", "run only the workloads whose name matches this regular expression (e.g. 'ping|idle')")
	flag.Parse()

	// quic-go warns on stderr when it cannot enlarge its UDP buffers; the
	// settings printed below say so instead.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")

	sz := fullSizes
	if *quick {
		sz = quickSizes
		if !flagSet("runs") {
			*runs = 1
		}
	}
	libs := libraries
	if *only != "" {
		libs = nil
		for name := range strings.SplitSeq(*only, ",") {
			i := slices.IndexFunc(libraries, func(l library) bool { return l.name == name })
			if i < 0 {
				fmt.Fprintf(os.Stderr, "unknown library %q (have %s)\n", name, libNames())
				os.Exit(2)
			}
			libs = append(libs, libraries[i])
		}
	}

	ms := measures(sz)
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			fmt.Fprintf(os.Stderr, "-run: %v\n", err)
			os.Exit(2)
		}
		ms = slices.DeleteFunc(ms, func(m *measure) bool { return !re.MatchString(m.name) })
	}
	start := time.Now()
	overrides := map[string][]string{}
	for run := range *runs {
		for _, m := range ms {
			for i := range libs {
				// Rotate the order each run, so no library always runs
				// right after the same other one.
				lib := libs[(i+run)%len(libs)]
				if lib.name == raw.name && m.noRaw {
					continue
				}
				t, override := lib.transport(m.streams)
				if override != "" && run == 0 {
					overrides[lib.name] = append(overrides[lib.name], m.name+": "+override)
				}
				vals, err := runOnce(m, lib, t, sz.runLimit)
				if err != nil {
					fmt.Fprintf(os.Stderr, "run %d, %s, %s: error: %v\n", run+1, m.name, lib.name, err)
					for _, r := range m.rows {
						r.errs[lib.name] = err.Error()
					}
					continue
				}
				var parts []string
				for j, r := range m.rows {
					r.vals[lib.name] = append(r.vals[lib.name], vals[j])
					parts = append(parts, fmt.Sprintf("%s %s", format(vals[j]), r.unit))
				}
				fmt.Fprintf(os.Stderr, "run %d, %s, %s: %s\n", run+1, m.name, lib.name, strings.Join(parts, ", "))
			}
		}
	}
	elapsed := time.Since(start)

	w := bufio.NewWriter(os.Stdout)
	report(w, libs, ms, overrides, *runs, elapsed)
	chartErr := writeChart(*out, libs, ms, *runs)
	if chartErr == errNoChart {
		fmt.Fprintf(w, "\n%v\n", chartErr)
		chartErr = nil
	} else if chartErr != nil {
		fmt.Fprintf(w, "\nchart: %v\n", chartErr)
	} else {
		fmt.Fprintf(w, "\nChart of aggregate throughput against streams: %s\n", *out)
	}
	w.Flush()

	// A failure of twine or of the baseline fails the run; another
	// library's failure is reported in the table.
	failed := chartErr != nil
	for _, m := range ms {
		for _, r := range m.rows {
			failed = failed || r.errs[twineLib.name] != "" || r.errs[raw.name] != ""
		}
	}
	if failed {
		os.Exit(1)
	}
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func libNames() string {
	var names []string
	for _, l := range libraries {
		names = append(names, l.name)
	}
	return strings.Join(names, ",")
}

// runOnce runs m over t once, after a GC, and aborts the program with a
// goroutine dump if it hangs past limit.
func runOnce(m *measure, lib library, t workload.Transport, limit time.Duration) ([]float64, error) {
	runtime.GC()
	watchdog := time.AfterFunc(limit, func() {
		fmt.Fprintf(os.Stderr, "%s, %s: still running after %v; goroutines:\n", m.name, lib.name, limit)
		buf := make([]byte, 1<<20)
		os.Stderr.Write(buf[:runtime.Stack(buf, true)])
		os.Exit(3)
	})
	defer watchdog.Stop()
	return m.run(lib, t)
}

// servePeer runs this program as an idle-memory peer; spec is "lib/streams".
func servePeer(spec string) int {
	name, n, _ := strings.Cut(spec, "/")
	streams, err := strconv.Atoi(n)
	i := slices.IndexFunc(libraries, func(l library) bool { return l.name == name })
	if err != nil || i < 0 {
		fmt.Fprintf(os.Stderr, "bad peer spec %q\n", spec)
		return 2
	}
	t, _ := libraries[i].transport(streams)
	if err := workload.ServePeer(t, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// median returns the median of xs, or NaN-free false for none.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// format prints a value with about three significant digits.
func format(v float64) string {
	switch a := max(v, -v); {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

// report prints the header, the settings and the table.
func report(w io.Writer, libs []library, ms []*measure, overrides map[string][]string, runs int, elapsed time.Duration) {
	fmt.Fprintf(w, "# twine vs other Go multiplexers\n\n")
	fmt.Fprintf(w, "- command: `go run . %s` (in bench/compare), %s, took %v\n", strings.Join(os.Args[1:], " "), time.Now().UTC().Format("2006-01-02 15:04 MST"), elapsed.Round(time.Second))
	fmt.Fprintf(w, "- machine: %s, %d CPUs (nproc), GOMAXPROCS %d, %s %s/%s\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "- every cell is the median of %d run(s); loopback TCP (quic-go: loopback UDP); client and server in this one process (idle memory: the peer in a child process)\n", runs)
	fmt.Fprintf(w, "\n## Libraries and settings\n\n")
	for _, l := range libs {
		name := "**" + l.name + "**"
		if v := moduleVersion(l.module); v != "" {
			name += " " + v
		}
		fmt.Fprintf(w, "- %s: %s\n", name, l.settings)
		for _, o := range overrides[l.name] {
			fmt.Fprintf(w, "  - changed for %s\n", o)
		}
	}

	others := func(l library) bool { return l.name != raw.name && l.name != twineLib.name }
	fmt.Fprintf(w, "\n## Results\n\n")
	fmt.Fprintf(w, "Ratios are twine's value divided by the other's; \"better\" says which way is better.\n\n")
	fmt.Fprintf(w, "| workload | unit | better |")
	for _, l := range libs {
		fmt.Fprintf(w, " %s |", l.name)
	}
	fmt.Fprintf(w, " twine ÷ raw | twine ÷ best other |\n|---|---|---|")
	for range libs {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintf(w, "---:|---:|\n")
	var errs []string
	for _, m := range ms {
		for _, r := range m.rows {
			better := "lower"
			if r.higher {
				better = "higher"
			}
			fmt.Fprintf(w, "| %s | %s | %s |", r.label, r.unit, better)
			bestName, best, haveBest := "", 0.0, false
			for _, l := range libs {
				v, ok := median(r.vals[l.name])
				switch {
				case l.name == raw.name && r.noRaw:
					fmt.Fprintf(w, " – |")
				case r.errs[l.name] != "" && !ok:
					fmt.Fprintf(w, " error[%d] |", len(errs)+1)
					errs = append(errs, fmt.Sprintf("%s, %s: %s", m.name, l.name, r.errs[l.name]))
				case ok:
					fmt.Fprintf(w, " %s |", format(v))
				default:
					fmt.Fprintf(w, " – |")
				}
				if ok && others(l) && (!haveBest || (r.higher && v > best) || (!r.higher && v < best)) {
					bestName, best, haveBest = l.name, v, true
				}
			}
			tw, okTwine := median(r.vals[twineLib.name])
			rv, okRaw := median(r.vals[raw.name])
			fmt.Fprintf(w, " %s | %s |\n", ratio(tw, okTwine, rv, okRaw && !r.noRaw, ""), ratio(tw, okTwine, best, haveBest, bestName))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nErrors:\n\n")
		for i, e := range errs {
			fmt.Fprintf(w, "%d. %s\n", i+1, e)
		}
	}
}

func ratio(a float64, okA bool, b float64, okB bool, name string) string {
	if !okA || !okB || b == 0 {
		return "–"
	}
	s := fmt.Sprintf("%.2f×", a/b)
	if name != "" {
		s += " (" + name + ")"
	}
	return s
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func moduleVersion(path string) string {
	if path == "" {
		return ""
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range info.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return "(this checkout)"
			}
			return d.Version
		}
	}
	return ""
}
