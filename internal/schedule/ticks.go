package schedule

import "time"

// maxTicks bounds Ticks: @every 1s over a month is 2.6 million.
const maxTicks = 10_000_000

// Ticks counts the cycles the schedule starts in [from, to): what a month
// of it costs is priced per run (`nexus catalog cost`).
func (p *Plan) Ticks(from, to time.Time) int {
	n := 0
	for t := from.Add(-time.Nanosecond); n < maxTicks; n++ {
		t = p.Next(t)
		if t.IsZero() || !t.Before(to) {
			break
		}
	}
	return n
}
