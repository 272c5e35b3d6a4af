package olist

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// Stream kinds: every random decision of the generator is drawn from a PCG
// stream seeded with (seed, kind, index), so any entity can be recomputed from
// its index alone, in any file, in any order.
const (
	kOrderCore uint64 = iota + 1
	kOrderItems
	kOrderPay
	kOrderReview
	kOrderTime
	kRepeat
	kCustomerLoc
	kCustomerMove
	kProduct
	kProductSale
	kSeller
	kZip
	kZipCity
	kGeoDup
	kGeoPoint
	kPlanter
	kPerm

	// id kinds
	idOrder
	idCustomer
	idPerson
	idProduct
	idSeller
	idReview
)

// mix64 is the splitmix64 finalizer: a bijection on uint64.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

func salt(seed int64, kind uint64) uint64 {
	return mix64(uint64(seed)*0x9e3779b97f4a7c15 ^ mix64(kind+0x632be59bd9b4e019))
}

// hash64 hashes (seed, kind, idx).
func hash64(seed int64, kind uint64, idx uint64) uint64 {
	return mix64(idx + salt(seed, kind))
}

// hash01 maps (seed, kind, idx) to [0,1).
func hash01(seed int64, kind uint64, idx uint64) float64 {
	return float64(hash64(seed, kind, idx)>>11) * 0x1p-53
}

// rng is a small allocation-free PCG stream.
type rng struct{ p rand.PCG }

func newRNG(seed int64, kind uint64, idx uint64) rng {
	var r rng
	s := salt(seed, kind)
	r.p.Seed(mix64(idx^s), mix64(idx+s+0x2545f4914f6cdd1d))
	return r
}

// float returns a uniform value in [0,1).
func (r *rng) float() float64 { return float64(r.p.Uint64()>>11) * 0x1p-53 }

// intn returns a uniform value in [0,n); n must be > 0.
func (r *rng) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.p.Uint64(), uint64(n))
	return int64(hi)
}

// rangeInt returns a uniform value in [lo,hi].
func (r *rng) rangeInt(lo, hi int64) int64 { return lo + r.intn(hi-lo+1) }

func (r *rng) chance(p float64) bool { return r.float() < p }

// norm returns a standard normal deviate (Box-Muller).
func (r *rng) norm() float64 {
	u1 := 1 - r.float() // (0,1]
	u2 := r.float()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

// lognorm returns exp(mu + sigma*N(0,1)) with median m = exp(mu).
func (r *rng) lognorm(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.norm())
}

// exp returns an exponential deviate with the given mean.
func (r *rng) exp(mean float64) float64 { return -mean * math.Log(1-r.float()) }

// weighted picks an index from cumulative weights (cum[len-1] is the total).
func (r *rng) weighted(cum []float64) int {
	x := r.float() * cum[len(cum)-1]
	return searchCum(cum, x)
}

// searchCum returns the first index whose cumulative weight exceeds x.
func searchCum(cum []float64, x float64) int {
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	s := 0.0
	for i, v := range w {
		s += v
		c[i] = s
	}
	return c
}

const hexDigits = "0123456789abcdef"

// appendID appends a 32-char lowercase hex id for (seed, kind, idx). The low
// 64 bits are a bijection of idx for a fixed (seed, kind), so ids of one kind
// never collide.
func appendID(dst []byte, seed int64, kind uint64, idx uint64) []byte {
	s := salt(seed, kind)
	lo := mix64(idx + s)
	hi := mix64(lo ^ s ^ 0xd6e8feb86659fd93)
	var b [32]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[hi&15]
		hi >>= 4
	}
	for i := 31; i >= 16; i-- {
		b[i] = hexDigits[lo&15]
		lo >>= 4
	}
	return append(dst, b[:]...)
}

// perm is a pseudo-random permutation of [0,n): a 4-round Feistel network on
// the smallest even number of bits covering n, with cycle walking. Files list
// their rows in such an order so that they are not sorted by time.
type perm struct {
	n    uint64
	half uint
	mask uint64
	keys [4]uint64
}

func newPerm(seed int64, kind uint64, n int64) perm {
	p := perm{n: uint64(max(n, 1))}
	b := uint(bits.Len64(p.n - 1))
	p.half = max((b+1)/2, 1)
	p.mask = 1<<p.half - 1
	for k := range p.keys {
		p.keys[k] = hash64(seed, kPerm, kind*8+uint64(k))
	}
	return p
}

func (p perm) enc(x uint64) uint64 {
	l, r := x>>p.half, x&p.mask
	for _, k := range p.keys {
		l, r = r, l^(mix64(r^k)&p.mask)
	}
	return l<<p.half | r
}

func (p perm) at(i int64) int64 {
	x := p.enc(uint64(i))
	for x >= p.n {
		x = p.enc(x)
	}
	return int64(x)
}
