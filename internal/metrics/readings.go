package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reading is a gauge read at scrape time from something other than the inbox (a
// setting, the certificate store), for facts that change rarely and have no event to
// count: when the latest backup was written, when a certificate expires, whether
// event processing is paused.
type Reading struct {
	// Name is the metric's name without the namespace.
	Name, Help string
	// Label names the one label of the values Read returns; empty for a gauge without
	// labels, whose value is under the key "".
	Label string
	// Read returns the values; a missing key (none at all) reports no sample.
	Read func(ctx context.Context) (map[string]float64, error)
}

// DefaultReadingTimeout bounds one Reading's Read during a scrape.
const DefaultReadingTimeout = 5 * time.Second

type readingCollector struct {
	desc *prometheus.Desc
	r    Reading
}

func (c *readingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *readingCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultReadingTimeout)
	defer cancel()
	values, err := c.r.Read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for label, v := range values {
		if c.r.Label == "" {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, label)
	}
}

// AddReading registers r on the metrics' registry.
func (m *Metrics) AddReading(r Reading) error {
	var labels []string
	if r.Label != "" {
		labels = []string{r.Label}
	}
	return m.registry.Register(&readingCollector{desc: prometheus.NewDesc(Namespace+"_"+r.Name, r.Help, labels, nil), r: r})
}

// Unix is t as a gauge value: seconds since the Unix epoch.
func Unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
