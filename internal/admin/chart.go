package admin

import (
	"fmt"
	"strconv"
)

// The installs chart is SVG computed here and written by the template: no script, so
// the dashboard needs no JavaScript at all and the chart is in the page as sent.

// Chart geometry, in SVG user units (the SVG scales to its container).
const (
	chartWidth   = 1100 // about the panel's width on a laptop, so text is drawn 1:1
	chartHeight  = 230
	chartLeft    = 40 // room for the y labels
	chartRight   = 8
	chartTop     = 12
	chartBottom  = 28 // room for the x labels
	chartBarFrac = 0.36
)

type chartRect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type chartText struct {
	X, Y   float64
	Text   string
	Anchor string // start, middle, end
}

type chartLine struct{ X1, Y1, X2, Y2 float64 }

// chart is the view of the installs chart.
type chart struct {
	Width, Height   int
	Bars            []chartRect
	Labels          []chartText
	Grid            []chartLine
	Axis            chartLine
	TotalInstalls   int
	TotalUninstalls int
	Summary         string // the chart in words, for screen readers and the title
}

func buildChart(days []dayCount) chart {
	c := chart{Width: chartWidth, Height: chartHeight}
	plotW := float64(chartWidth - chartLeft - chartRight)
	plotH := float64(chartHeight - chartTop - chartBottom)
	baseY := float64(chartTop) + plotH

	peak := 0
	for _, d := range days {
		peak = max(peak, d.Installs, d.Uninstalls)
		c.TotalInstalls += d.Installs
		c.TotalUninstalls += d.Uninstalls
	}
	top := niceCeiling(peak)
	for _, v := range []int{0, top / 2, top} { // top is even: the middle line is whole
		y := baseY - plotH*float64(v)/float64(top)
		if v > 0 {
			c.Grid = append(c.Grid, chartLine{X1: chartLeft, Y1: y, X2: chartLeft + plotW, Y2: y})
		}
		c.Labels = append(c.Labels, chartText{X: chartLeft - 6, Y: y + 4, Text: strconv.Itoa(v), Anchor: "end"})
	}
	c.Axis = chartLine{X1: chartLeft, Y1: baseY, X2: chartLeft + plotW, Y2: baseY}

	if len(days) == 0 {
		return c
	}
	slot := plotW / float64(len(days))
	barW := slot * chartBarFrac
	for i, d := range days {
		x := chartLeft + slot*float64(i) + slot*(1-2*chartBarFrac)/2
		day := d.Date.Format("Jan 2")
		bar := func(n int, x float64, class, what string) {
			if n == 0 {
				return
			}
			h := plotH * float64(n) / float64(top)
			c.Bars = append(c.Bars, chartRect{X: x, Y: baseY - h, W: barW, H: h, Class: class,
				Title: fmt.Sprintf("%s: %d %s", day, n, plural(n, what))})
		}
		bar(d.Installs, x, "bar-install", "install")
		bar(d.Uninstalls, x+barW, "bar-uninstall", "uninstall")
		if (len(days)-1-i)%7 == 0 { // weekly, ending today
			c.Labels = append(c.Labels, chartText{X: chartLeft + slot*(float64(i)+0.5), Y: baseY + 18, Text: day, Anchor: "middle"})
		}
	}
	c.Summary = fmt.Sprintf("Installs and uninstalls per day from %s to %s: %d %s, %d %s.",
		days[0].Date.Format("Jan 2"), days[len(days)-1].Date.Format("Jan 2"),
		c.TotalInstalls, plural(c.TotalInstalls, "install"), c.TotalUninstalls, plural(c.TotalUninstalls, "uninstall"))
	return c
}

// niceCeiling is the smallest of 2, 4, 6, 10, 20, 40, 60, 100, … that holds n, so the
// grid lines fall on round numbers.
func niceCeiling(n int) int {
	for scale := 1; ; scale *= 10 {
		for _, m := range []int{2, 4, 6, 10} {
			if n <= m*scale {
				return m * scale
			}
		}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
