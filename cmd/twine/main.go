// Command twine is twine's command-line tool.
//
// Usage:
//
//	twine <command> [flags]
//
// The commands are:
//
//	demo    show each stream behaviour over loopback TCP and QUIC, and check it
//	perf    measure throughput and round-trip time between two machines, like iperf
//
// Run "twine <command> -h" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
)

// command is one subcommand. run parses args (the arguments after the
// command's name) with its own flag.FlagSet and returns the exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands, in the order usage shows them. A new
// subcommand lives in its own file and adds one line here.
var commands = []command{
	{name: "demo", summary: "show each stream behaviour over loopback TCP and QUIC, and check it", run: demoMain},
	{name: "perf", summary: "measure throughput and round-trip time between two machines, like iperf", run: perfMain},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit status: 0 on
// success and for -h, 2 for a usage error, else the command's own.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("twine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs.Output()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		if len(rest) == 0 {
			usage(stdout)
			return 0
		}
		// "twine help demo" is "twine demo -h".
		name, rest = rest[0], []string{"-h"}
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "twine: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `twine is the command-line tool of the twine stream multiplexer.

Usage:

	twine <command> [flags]

Commands:

`)
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-8s%s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "twine <command> -h" for a command's flags.
`)
}

// printer serialises the output of concurrent goroutines, a call at a time.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// parseFlags parses a command's args with fs, whose -h prints usage and
// then the flags. It reports whether the command should go on; if not, it
// returns the exit status: 0 after -h, 2 for a bad flag or an argument
// that is not one.
func parseFlags(fs *flag.FlagSet, args []string, usage string) (code int, ok bool) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage, "\nFlags:\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments: %s\nRun \"%s -h\" for usage.\n", fs.Name(), strings.Join(fs.Args(), " "), fs.Name())
		return 2, false
	}
	return 0, true
}
