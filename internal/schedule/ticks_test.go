package schedule

import (
	"testing"
	"time"
)

func TestTicks(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	month := from.AddDate(0, 0, 30)
	for _, tc := range []struct {
		cron, tz string
		to       time.Time
		want     int
	}{
		{"0 2 * * *", "UTC", month, 30},                  // the default: daily
		{"@hourly", "UTC", month, 30 * 24},               // on the hour, from included
		{"0 2 * * *", "UTC", from.Add(2 * time.Hour), 0}, // [from, to): 02:00 is out
		{"0 0 * * *", "UTC", from.Add(time.Hour), 1},     // from itself counts
		{"@every 30m", "UTC", month, 30 * 48},
		{"0 6 * * 1-5", "UTC", month, 21}, // weekdays from Sunday 1 March 2026 to Monday the 30th
		{"0 2 1 * *", "UTC", month, 1},
		// America/Sao_Paulo has had no daylight saving since 2019: 30 ticks.
		{"30 0 * * *", "America/Sao_Paulo", month, 30},
	} {
		c := Default()
		c.Cron, c.Timezone = tc.cron, tc.tz
		p, err := c.Compile()
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Ticks(from, tc.to); got != tc.want {
			t.Errorf("%s (%s): %d ticks, want %d", tc.cron, tc.tz, got, tc.want)
		}
	}
}
