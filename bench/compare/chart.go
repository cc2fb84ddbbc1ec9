package main

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Colours and markers of the chart's series, in the libraries' order.
var seriesColors = []string{"#444444", "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"}

// errNoChart: no aggregate throughput workload ran (see -run).
var errNoChart = errors.New("no aggregate throughput workload ran: no chart")

// writeChart draws the aggregate throughput rows (MB/s against the number
// of streams, a log scale) of every library as an SVG line chart at path.
func writeChart(path string, libs []library, ms []*measure, runs int) error {
	var rows []*row
	for _, m := range ms {
		for _, r := range m.rows {
			if r.chartN > 0 {
				rows = append(rows, r)
			}
		}
	}
	slices.SortFunc(rows, func(a, b *row) int { return a.chartN - b.chartN })
	if len(rows) == 0 {
		return errNoChart
	}

	const (
		width, height            = 760.0, 460.0
		left, right, top, bottom = 80.0, 170.0, 60.0, 70.0
		plotW, plotH             = width - left - right, height - top - bottom
	)
	ymax := 0.0
	for _, r := range rows {
		for _, l := range libs {
			if v, ok := median(r.vals[l.name]); ok {
				ymax = max(ymax, v)
			}
		}
	}
	step := niceStep(ymax / 5)
	if step == 0 {
		step = 1
	}
	ytop := math.Ceil(ymax/step) * step
	if ytop == 0 {
		ytop = step
	}
	x := func(i int) float64 {
		if len(rows) == 1 {
			return left + plotW/2
		}
		return left + plotW*float64(i)/float64(len(rows)-1)
	}
	y := func(v float64) float64 { return top + plotH*(1-v/ytop) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="28" text-anchor="middle" font-size="16" font-weight="bold">Aggregate throughput of N concurrent streams on one connection</text>`+"\n", width/2)
	fmt.Fprintf(&b, `<text x="%g" y="46" text-anchor="middle" fill="#555">loopback, GOMAXPROCS %d, median of %d run(s); raw = one TCP connection per stream</text>`+"\n", width/2, runtimeProcs(), runs)

	// Grid and y axis.
	for v := 0.0; v <= ytop+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), left+plotW, y(v))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-8, y(v), format(v))
	}
	fmt.Fprintf(&b, `<text transform="translate(22 %g) rotate(-90)" text-anchor="middle">MB/s (higher is better)</text>`+"\n", top+plotH/2)
	// X axis.
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/>`+"\n", left, top+plotH, left+plotW, top+plotH)
	for i, r := range rows {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#ddd"/>`+"\n", x(i), top, x(i), top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%d</text>`+"\n", x(i), top+plotH+20, r.chartN)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">concurrent streams (log scale)</text>`+"\n", left+plotW/2, height-22)

	// Series and legend.
	for li, l := range libs {
		color := seriesColors[li%len(seriesColors)]
		var pts []string
		for i, r := range rows {
			if v, ok := median(r.vals[l.name]); ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s, %d streams: %s MB/s</title></circle>`+"\n",
					x(i), y(v), color, html.EscapeString(l.name), r.chartN, format(v))
			}
		}
		if len(pts) > 1 {
			width := 2
			if l.name == twineLib.name {
				width = 4
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%d" points="%s"/>`+"\n", color, width, strings.Join(pts, " "))
		}
		ly := top + 10 + 24*float64(li)
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="3"/>`+"\n", left+plotW+20, ly, left+plotW+44, ly, color)
		fmt.Fprintf(&b, `<text x="%g" y="%g" dominant-baseline="middle">%s</text>`+"\n", left+plotW+52, ly, html.EscapeString(l.name))
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
