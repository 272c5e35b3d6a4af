package olist

import "math"

// The zip model: which 5-digit prefixes exist (appear in geolocation), their
// state, city, popularity and number of geolocation points. Its size is fixed
// (100,000 prefixes), whatever the scale.

const (
	nPrefixes = 100000
	// realPrefixes is the number of distinct prefixes in the real geolocation file.
	realPrefixes = 19015
	geoDupRate   = 0.26 // share of geolocation rows that repeat an earlier row
	geoAccent    = 0.14 // share of rows of an accented city written with accents
)

type zipInfo struct {
	st     int8 // index in states, -1 when the prefix is not a CEP
	active bool // present in geolocation; customers and sellers live there
	city   int16
	w      float64 // popularity within the state
	rows   int32   // geolocation rows
}

type stateSampler struct {
	prefixes []int32
	cum      []float64
}

type cityPos struct{ lat, lng, sigma float64 }

type geoModel struct {
	seed     int64
	zips     []zipInfo
	samplers []stateSampler
	custCum  []float64 // over states
	sellCum  []float64
	cities   [][]cityPos // per state, per city
	rows     int64       // geolocation rows
	active   int64
}

func newGeoModel(seed int64, scale float64) *geoModel {
	gm := &geoModel{seed: seed, zips: make([]zipInfo, nPrefixes)}
	for p := range gm.zips {
		gm.zips[p].st = -1
	}
	cust := make([]float64, len(states))
	sell := make([]float64, len(states))
	gm.cities = make([][]cityPos, len(states))
	for s, st := range states {
		cust[s] = st.cust
		sell[s] = st.sell
		var generic []int
		gm.cities[s] = make([]cityPos, len(st.cities))
		for ci, c := range st.cities {
			pos := cityPos{lat: c.lat, lng: c.lng}
			if c.lo == 0 {
				generic = append(generic, ci)
				h1 := hash01(seed, kZipCity, uint64(s*1000+ci))
				h2 := hash01(seed, kZipCity, uint64(s*1000+ci)+500)
				pos.lat = st.lat + (2*h1-1)*st.dLat
				pos.lng = st.lng + (2*h2-1)*st.dLng
				pos.sigma = 0.04
			} else {
				pos.sigma = 0.01 + 0.00004*float64(c.hi-c.lo)
			}
			gm.cities[s][ci] = pos
		}
		for _, r := range st.ranges {
			for p := r[0]; p <= r[1]; p++ {
				z := &gm.zips[p]
				z.st = int8(s)
				z.city = -1
				for ci, c := range st.cities {
					if c.lo != 0 && p >= c.lo && p <= c.hi {
						z.city = int16(ci)
						break
					}
				}
				if z.city < 0 {
					if len(generic) == 0 {
						z.city = 0
					} else {
						h := hash64(seed, kZipCity, uint64(p/20))
						z.city = int16(generic[h%uint64(len(generic))])
					}
				}
			}
		}
	}
	gm.custCum = cumulative(cust)
	gm.sellCum = cumulative(sell)

	// Density: busy states and big cities have most of their prefixes in use.
	density := func(p int) float64 {
		z := gm.zips[p]
		st := states[z.st]
		d := 0.07 + 0.006*st.cust
		c := st.cities[z.city]
		if c.lo != 0 {
			d *= 3
		}
		return d
	}
	expected := 0.0
	for p := range gm.zips {
		if gm.zips[p].st >= 0 {
			expected += math.Min(0.95, density(p))
		}
	}
	target := realPrefixes * math.Pow(math.Min(1, scale), 0.6)
	f := target / expected
	for p := range gm.zips {
		z := &gm.zips[p]
		if z.st < 0 {
			continue
		}
		d := math.Min(0.95, density(p)*f)
		h := hash01(seed, kZip, uint64(p))
		z.active = h < d
		if z.active {
			// Popularity: log-normal, big cities favoured.
			r := newRNG(seed, kZip, uint64(p)+nPrefixes)
			z.w = r.lognorm(1, 0.8)
			if c := states[z.st].cities[z.city]; c.lo != 0 {
				z.w *= 2
				if z.city == 0 {
					z.w *= 1.5
				}
			}
		}
	}
	// Every state keeps its capital's first prefix.
	for _, st := range states {
		if p := st.cities[0].lo; !gm.zips[p].active {
			gm.zips[p].active = true
			gm.zips[p].w = 3
		}
	}
	gm.samplers = make([]stateSampler, len(states))
	stateW := make([]float64, len(states))
	for p := range gm.zips {
		z := &gm.zips[p]
		if !z.active {
			continue
		}
		gm.active++
		sm := &gm.samplers[z.st]
		stateW[z.st] += z.w
		sm.prefixes = append(sm.prefixes, int32(p))
		sm.cum = append(sm.cum, stateW[z.st])
	}

	// Geolocation rows: one per active prefix, the rest in proportion to the
	// customers of the state and the prefix popularity.
	gm.rows = max(int64(math.Round(1000163*scale)), gm.active)
	extra := float64(gm.rows - gm.active)
	total := 0.0
	for p := range gm.zips {
		if z := gm.zips[p]; z.active {
			total += states[z.st].cust * z.w / stateW[z.st]
		}
	}
	acc := 0.0
	prev := int64(0)
	var sum int64
	for p := range gm.zips {
		z := &gm.zips[p]
		if !z.active {
			continue
		}
		acc += states[z.st].cust * z.w / stateW[z.st]
		cur := int64(math.Floor(extra * acc / total))
		if cur > int64(extra) {
			cur = int64(extra)
		}
		z.rows = int32(1 + cur - prev)
		prev = cur
		sum += int64(z.rows)
	}
	gm.rows = sum
	return gm
}

// sample picks an active prefix of state s by popularity.
func (gm *geoModel) sample(s int, r *rng) int {
	sm := &gm.samplers[s]
	return int(sm.prefixes[r.weighted(sm.cum)])
}

// inactive picks a valid prefix of state s that is absent from geolocation,
// or -1 when the state has none.
func (gm *geoModel) inactive(s int, r *rng) int {
	st := states[s]
	rg := st.ranges[r.intn(int64(len(st.ranges)))]
	size := rg[1] - rg[0] + 1
	start := int(r.intn(int64(size)))
	for k := 0; k < size; k++ {
		p := rg[0] + (start+k)%size
		if !gm.zips[p].active {
			return p
		}
	}
	return -1
}

// appendZip appends a prefix as 5 digits.
func appendZip(dst []byte, p int) []byte {
	return append(dst, byte('0'+p/10000), byte('0'+p/1000%10), byte('0'+p/100%10), byte('0'+p/10%10), byte('0'+p%10))
}

func (gm *geoModel) cityName(p int) string {
	z := gm.zips[p]
	return states[z.st].cities[z.city].plain
}

// centroid returns the centre of the points of prefix p.
func (gm *geoModel) centroid(p int) (lat, lng float64) {
	z := gm.zips[p]
	c := gm.cities[z.st][z.city]
	r := newRNG(gm.seed, kZip, uint64(p)+2*nPrefixes)
	return c.lat + c.sigma*r.norm(), c.lng + c.sigma*r.norm()
}
