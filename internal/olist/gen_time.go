package olist

import (
	"sort"
	"sync"
	"time"
	_ "time/tzdata" // the generator must not depend on the host's zoneinfo
)

// Local time handling. Every generated timestamp except the midnight dates is
// an absolute instant formatted in America/Sao_Paulo local time, so it can
// never fall into a spring-forward gap. Conversions use a precomputed table of
// the zone's transitions (fast, and independent of how time.Date resolves
// non-existent local times: it picks the instant before the gap).

const tzName = "America/Sao_Paulo"

type tzTable struct {
	loc    *time.Location
	starts []int64 // instants where an offset period starts, ascending
	offs   []int64 // offset (seconds east of UTC) from starts[i]
	lo, hi int64   // table validity
	backs  []int64 // fall-back transitions: the local hour before them repeats
}

var (
	tzOnce sync.Once
	tz     tzTable
	tzErr  error
)

func loadTZ() (*tzTable, error) {
	tzOnce.Do(func() {
		loc, err := time.LoadLocation(tzName)
		if err != nil {
			tzErr = err
			return
		}
		tz.loc = loc
		tz.lo = time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		tz.hi = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
		t := time.Unix(tz.lo, 0).In(loc)
		for t.Unix() < tz.hi {
			_, off := t.Zone()
			start, end := t.ZoneBounds()
			s := start.Unix()
			if start.IsZero() || s < tz.lo {
				s = tz.lo
			}
			if n := len(tz.offs); n > 0 && int64(off) < tz.offs[n-1] {
				tz.backs = append(tz.backs, s)
			}
			tz.starts = append(tz.starts, s)
			tz.offs = append(tz.offs, int64(off))
			if end.IsZero() {
				break
			}
			t = end.In(loc)
		}
	})
	if tzErr != nil {
		return nil, tzErr
	}
	return &tz, nil
}

// offset returns the UTC offset in seconds at instant sec.
func (z *tzTable) offset(sec int64) int64 {
	if sec < z.lo || sec >= z.hi {
		_, off := time.Unix(sec, 0).In(z.loc).Zone()
		return int64(off)
	}
	i := sort.Search(len(z.starts), func(i int) bool { return z.starts[i] > sec }) - 1
	if i < 0 {
		i = 0
	}
	return z.offs[i]
}

// warpSpan is how much time before a fall-back absorbs the repeated hour.
const warpSpan = 6 * 3600

// warp keeps instants out of the repeated local hour of a fall-back: the span
// [T-1h-warpSpan, T+1h) is squeezed linearly into [T-1h-warpSpan, T-1h), whose
// local times are unambiguous. The map is monotone, so the order of any two
// timestamps (more than a second apart) is the same in local time as in
// absolute time, planted ordering defects included.
func (z *tzTable) warp(sec int64) int64 {
	for _, t := range z.backs {
		a := t - 3600 - warpSpan
		if sec >= a && sec < t+3600 {
			return a + (sec-a)*warpSpan/(warpSpan+7200)
		}
	}
	return sec
}

// localSec returns the local wall clock of sec as seconds since the epoch.
func (z *tzTable) localSec(sec int64) int64 {
	w := z.warp(sec)
	return w + z.offset(w)
}

// dayOf returns the local civil day number (days since 1970-01-01) of sec.
func (z *tzTable) dayOf(sec int64) int64 { return floorDiv(z.localSec(sec), 86400) }

// dayStart returns the first instant of a local civil day: midnight, or 01:00
// on a DST-start day where midnight does not exist.
func (z *tzTable) dayStart(day int64) int64 {
	utcMid := day * 86400
	for _, off := range [...]int64{7200, 10800, 3600, 14400} {
		c := utcMid + off
		l := z.localSec(c)
		if floorDiv(l, 86400) == day && l-day*86400 < 3600 {
			return c
		}
	}
	// Midnight does not exist: the first instant is the end of the gap.
	c := utcMid + 10800
	for floorDiv(z.localSec(c-3600), 86400) == day {
		c -= 3600
	}
	return c
}

// isDSTStart reports whether the local day has no midnight.
func (z *tzTable) isDSTStart(day int64) bool {
	return z.localSec(z.dayStart(day))-day*86400 != 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// civil converts a day number to year, month, day (Howard Hinnant's algorithm).
func civil(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return
}

// daysFromCivil converts a civil date to a day number.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// appendLocal appends a local wall clock (seconds since the epoch) as
// YYYY-MM-DD HH:MM:SS.
func appendLocal(dst []byte, l int64) []byte {
	day := floorDiv(l, 86400)
	s := l - day*86400
	y, m, d := civil(day)
	dst = append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, ' ')
	dst = append2(dst, s/3600)
	dst = append(dst, ':')
	dst = append2(dst, s/60%60)
	dst = append(dst, ':')
	return append2(dst, s%60)
}

// appendTS appends instant sec as a local timestamp.
func (z *tzTable) appendTS(dst []byte, sec int64) []byte {
	return appendLocal(dst, z.localSec(sec))
}

// --- purchase time distribution -------------------------------------------

// monthSpec gives the real number of orders per month (at scale 1) and the
// range of days that hold them.
type monthSpec struct {
	y, m       int64
	orders     float64
	first, end int64 // day of month range, inclusive
}

var purchaseMonths = []monthSpec{
	{2016, 9, 4, 4, 15},
	{2016, 10, 324, 2, 10},
	{2016, 11, 0, 1, 30},
	{2016, 12, 1, 23, 23},
	{2017, 1, 800, 5, 31},
	{2017, 2, 1780, 1, 28},
	{2017, 3, 2682, 1, 31},
	{2017, 4, 2404, 1, 30},
	{2017, 5, 3700, 1, 31},
	{2017, 6, 3245, 1, 30},
	{2017, 7, 4026, 1, 31},
	{2017, 8, 4331, 1, 31},
	{2017, 9, 4285, 1, 30},
	{2017, 10, 4631, 1, 31},
	{2017, 11, 7544, 1, 30},
	{2017, 12, 5673, 1, 31},
	{2018, 1, 7269, 1, 31},
	{2018, 2, 6728, 1, 28},
	{2018, 3, 7211, 1, 31},
	{2018, 4, 6939, 1, 30},
	{2018, 5, 6873, 1, 31},
	{2018, 6, 6167, 1, 30},
	{2018, 7, 6292, 1, 31},
	{2018, 8, 6512, 1, 29},
	{2018, 9, 16, 3, 29},
	{2018, 10, 4, 1, 17},
}

// Weekday factors, Sunday first: Mondays and Tuesdays are the busiest.
var weekdayFactor = [7]float64{0.90, 1.13, 1.12, 1.07, 1.03, 0.96, 0.79}

// Orders per hour of day in the real data.
var hourWeights = []float64{2394, 1170, 510, 272, 206, 188, 502, 1231, 2967, 4785, 6177, 6578,
	5995, 6518, 6569, 6454, 6675, 6150, 5769, 5982, 6193, 6217, 5816, 4123}

type purchaseCalendar struct {
	days    []int64   // civil day numbers with orders
	cum     []float64 // cumulative share, ends at 1
	hourCum []float64
	lastDay int64 // last day with many orders (2018-08-29)
}

var (
	calOnce sync.Once
	cal     purchaseCalendar
)

func calendar() *purchaseCalendar {
	calOnce.Do(func() {
		bf := daysFromCivil(2017, 11, 24)
		special := map[int64]float64{
			bf: 5.0, bf + 1: 1.8, bf + 2: 1.4, bf + 3: 1.6, bf - 1: 1.2,
		}
		var w []float64
		for _, ms := range purchaseMonths {
			if ms.orders == 0 {
				continue
			}
			var mw []float64
			var md []int64
			total := 0.0
			for d := ms.first; d <= ms.end; d++ {
				day := daysFromCivil(ms.y, ms.m, d)
				f := weekdayFactor[((day+4)%7+7)%7] // 1970-01-01 was a Thursday
				if s, ok := special[day]; ok {
					f *= s
				}
				mw = append(mw, f)
				md = append(md, day)
				total += f
			}
			for i := range mw {
				w = append(w, mw[i]/total*ms.orders)
				cal.days = append(cal.days, md[i])
			}
		}
		cal.cum = cumulative(w)
		tot := cal.cum[len(cal.cum)-1]
		for i := range cal.cum {
			cal.cum[i] /= tot
		}
		cal.hourCum = cumulative(hourWeights)
		cal.lastDay = daysFromCivil(2018, 8, 29)
	})
	return &cal
}
