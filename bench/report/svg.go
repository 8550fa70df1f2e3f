package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Drawing: SVG text written by hand. Every chart is width x height pixels
// with the plot area inside the margins and the legend on the right.
const (
	width        = 760
	height       = 440
	marginLeft   = 80
	marginRight  = 170
	marginTop    = 48
	marginBottom = 64
	plotW        = width - marginLeft - marginRight
	plotH        = height - marginTop - marginBottom
)

// palette colours series; the three targets of the harness keep theirs in
// every chart.
var (
	palette     = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}
	fixedColour = map[string]string{"actorhub": "#1f77b4", "philippseith": "#ff7f0e", "raw": "#2ca02c"}
)

var barPalette = []string{"#3b3b3b", "#8a8a8a", "#c4c4c4"}

// colours gives each name a colour: its fixed one, else the next unused.
func colours(names []string) map[string]string {
	out := map[string]string{}
	used := map[string]bool{}
	for _, n := range names {
		if c, ok := fixedColour[n]; ok {
			out[n] = c
			used[c] = true
		}
	}
	i := 0
	for _, n := range names {
		if _, ok := out[n]; ok {
			continue
		}
		for used[palette[i%len(palette)]] && i < 2*len(palette) {
			i++
		}
		out[n] = palette[i%len(palette)]
		used[out[n]] = true
		i++
	}
	return out
}

type point struct{ x, y float64 }

type series struct {
	name   string
	points []point // in x order
}

// lineChart is a chart of lines; xLog draws x on a log scale.
type lineChart struct {
	title, xLabel, yLabel string
	xLog                  bool
	yFixed                *[2]float64 // y range if set (a CDF's [0, 1]); else 0 to the data's nice maximum
	xFmt, yFmt            func(float64) string
	series                []series
}

// barChart is grouped bars: one group per category, one bar per series.
type barChart struct {
	title, yLabel string
	categories    []string
	seriesNames   []string
	values        [][]float64 // [series][category]; NaN: no bar
	yFmt          func(float64) string
}

type svg struct{ b strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

func (s *svg) text(x, y float64, anchor, extra, txt string) {
	s.f(`<text x="%.1f" y="%.1f" text-anchor="%s"%s>`, x, y, anchor, extra)
	_ = xml.EscapeText(&s.b, []byte(txt))
	s.b.WriteString("</text>\n")
}

func (s *svg) open(title string) {
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	s.f(`<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	s.text(width/2, 26, "middle", ` font-size="15" font-weight="bold"`, title)
}

func (s *svg) close() string {
	s.b.WriteString("</svg>\n")
	return s.b.String()
}

// frame draws the plot area's axes, grid, ticks and labels.
func (s *svg) frame(xLabel, yLabel string, xt, yt []tick) {
	x0, y0 := float64(marginLeft), float64(marginTop+plotH)
	for _, t := range yt {
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, t.pos, x0+plotW, t.pos)
		s.text(x0-6, t.pos+4, "end", "", t.label)
	}
	for _, t := range xt {
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", t.pos, float64(marginTop), t.pos, y0)
		s.text(t.pos, y0+16, "middle", "", t.label)
	}
	s.f(`<path d="M%.1f %.1fV%.1fH%.1f" fill="none" stroke="black"/>`+"\n", x0, float64(marginTop), y0, x0+plotW)
	s.text(x0+plotW/2, height-18, "middle", "", xLabel)
	s.text(18, marginTop+plotH/2, "middle", fmt.Sprintf(` transform="rotate(-90 18 %d)"`, marginTop+plotH/2), yLabel)
}

func (s *svg) legend(names []string, col map[string]string) {
	x := float64(width - marginRight + 16)
	for i, n := range names {
		y := float64(marginTop + 10 + 20*i)
		s.f(`<rect x="%.1f" y="%.1f" width="14" height="10" fill="%s"/>`+"\n", x, y-9, col[n])
		s.text(x+20, y, "start", "", n)
	}
}

type tick struct {
	pos   float64
	label string
}

// axis maps data values to pixels.
type axis struct {
	lo, hi   float64 // data range (log10 of it on a log axis)
	log      bool
	p0, p1   float64 // pixels of lo and hi
	fmtLabel func(float64) string
}

func (a axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(math.Max(v, 1e-12))
	}
	if a.hi == a.lo {
		return (a.p0 + a.p1) / 2
	}
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

func (a axis) ticks() []tick {
	var out []tick
	if a.log {
		for e := math.Floor(a.lo); e <= a.hi+1e-9; e++ {
			for _, m := range []float64{1, 2, 5} {
				v := m * math.Pow(10, e)
				if lv := math.Log10(v); lv >= a.lo-1e-9 && lv <= a.hi+1e-9 {
					out = append(out, tick{a.pos(v), a.fmtLabel(v)})
				}
			}
		}
		return out
	}
	step := niceStep((a.hi - a.lo) / 5)
	for v := math.Ceil(a.lo/step) * step; v <= a.hi+step*1e-9; v += step {
		out = append(out, tick{a.pos(v), a.fmtLabel(v)})
	}
	return out
}

// niceStep rounds a rough tick step up to 1, 2 or 5 times a power of ten.
func niceStep(rough float64) float64 {
	if rough <= 0 || math.IsNaN(rough) || math.IsInf(rough, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(rough)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= rough {
			return m * p
		}
	}
	return 10 * p
}

// niceMax rounds v up to a whole tick step.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	step := niceStep(v / 5)
	return math.Ceil(v/step) * step
}

func linearAxis(lo, hi, p0, p1 float64, f func(float64) string) axis {
	return axis{lo: lo, hi: hi, p0: p0, p1: p1, fmtLabel: f}
}

// logAxis spans whole decades around [lo, hi] (both > 0).
func logAxis(lo, hi, p0, p1 float64, f func(float64) string) axis {
	l, h := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if h == l {
		h++
	}
	return axis{lo: l, hi: h, log: true, p0: p0, p1: p1, fmtLabel: f}
}

func (c lineChart) render() string {
	var s svg
	s.open(c.title)
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	var names []string
	for _, sr := range c.series {
		names = append(names, sr.name)
		for _, p := range sr.points {
			if c.xLog && p.x <= 0 {
				continue
			}
			xmin, xmax, ymax = math.Min(xmin, p.x), math.Max(xmax, p.x), math.Max(ymax, p.y)
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 0, 1
		if c.xLog {
			xmin, xmax = 1, 10
		}
	}
	px0, px1 := float64(marginLeft), float64(marginLeft+plotW)
	py0, py1 := float64(marginTop+plotH), float64(marginTop)
	var xa axis
	if c.xLog {
		xa = logAxis(xmin, xmax, px0, px1, c.xFmt)
	} else {
		xa = linearAxis(0, niceMax(xmax), px0, px1, c.xFmt)
	}
	ya := linearAxis(0, niceMax(ymax), py0, py1, c.yFmt)
	if c.yFixed != nil {
		ya = linearAxis(c.yFixed[0], c.yFixed[1], py0, py1, c.yFmt)
	}
	s.frame(c.xLabel, c.yLabel, xa.ticks(), ya.ticks())
	col := colours(names)
	for _, sr := range c.series {
		var d strings.Builder
		n := 0
		for _, p := range sr.points {
			if c.xLog && p.x <= 0 {
				continue
			}
			cmd := "L"
			if n == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f", cmd, xa.pos(p.x), ya.pos(p.y))
			n++
		}
		if n == 0 {
			continue
		}
		s.f(`<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", d.String(), col[sr.name])
		for _, p := range sr.points {
			if (!c.xLog || p.x > 0) && len(sr.points) <= 40 {
				s.f(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xa.pos(p.x), ya.pos(p.y), col[sr.name])
			}
		}
	}
	s.legend(names, col)
	return s.close()
}

func (c barChart) render() string {
	var s svg
	s.open(c.title)
	ymax := 0.0
	for _, vs := range c.values {
		for _, v := range vs {
			if !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	py0, py1 := float64(marginTop+plotH), float64(marginTop)
	ya := linearAxis(0, niceMax(ymax), py0, py1, c.yFmt)
	groupW := float64(plotW) / float64(max(len(c.categories), 1))
	barW := groupW * 0.8 / float64(max(len(c.seriesNames), 1))
	var xt []tick
	for i, cat := range c.categories {
		xt = append(xt, tick{marginLeft + groupW*(float64(i)+0.5), cat})
	}
	s.frame("", c.yLabel, nil, ya.ticks())
	for _, t := range xt {
		s.text(t.pos, float64(marginTop+plotH+16), "middle", "", t.label)
	}
	// Bars are coloured by measure, in greys: the target colours name the
	// categories' targets in the other plots.
	col := map[string]string{}
	for i, n := range c.seriesNames {
		col[n] = barPalette[i%len(barPalette)]
	}
	for si, name := range c.seriesNames {
		for ci := range c.categories {
			v := c.values[si][ci]
			if math.IsNaN(v) {
				continue
			}
			x := marginLeft + groupW*float64(ci) + groupW*0.1 + barW*float64(si)
			y := ya.pos(v)
			s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, barW*0.92, py0-y, col[name])
			s.text(x+barW*0.46, y-4, "middle", ` font-size="10"`, c.yFmt(v))
		}
	}
	s.legend(c.seriesNames, col)
	return s.close()
}

// Number formats for labels.

// fmtCount writes 1500 as 1.5k and 2000000 as 2M.
func fmtCount(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

// fmtBytes writes 1500 as 1.5 kB (decimal units, so that ticks fall on
// round numbers).
func fmtBytes(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trim(v/1e6) + " MB"
	case a >= 1e3:
		return trim(v/1e3) + " kB"
	}
	return trim(v) + " B"
}

// fmtMs writes milliseconds: 0.05, 2, 1500.
func fmtMs(v float64) string { return trim(v) }

func fmtFraction(v float64) string { return trim(v) }

func trim(v float64) string {
	if v == math.Trunc(v) || math.Abs(v) >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	if math.Abs(v) >= 1 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}
