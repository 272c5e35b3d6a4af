package olist

import (
	"math"
)

// The orders domain: orders, customers, order_items, order_payments and
// order_reviews are all derived from the order index i in [0, nOrders).
// Order i is placed at the i-th quantile of the purchase calendar, so a lower
// index is an earlier purchase; files list their rows in a permuted order.

const (
	stDelivered = iota
	stShipped
	stCanceled
	stUnavailable
	stInvoiced
	stProcessing
	stCreated
	stApproved
)

var statusNames = [...]string{"delivered", "shipped", "canceled", "unavailable", "invoiced", "processing", "created", "approved"}

// Status of an order that is not planted without items. The real data's
// status counts of its 99,441 orders are delivered 96,478, shipped 1,107,
// canceled 625, unavailable 609, invoiced 314, processing 301, created 5,
// approved 2; nearly all of its unavailable orders (and a quarter of its
// canceled ones) are among the 775 orders without items, which the planter
// adds as unavailable or canceled (see core). Those are subtracted here, so
// that the shares of the whole data set match the real ones.
var statusCum = cumulative([]float64{96478, 1107, 625 - 170, 609 - 605, 314, 301, 5, 2})

// withoutItemsCanceled is the share of the planted orders without items that
// are canceled; the others are unavailable.
const withoutItemsCanceled = 0.22

const (
	pkCredit = iota
	pkBoleto
	pkDebit
	pkVoucher // one or more vouchers, sometimes with a credit card
	pkNotDefined
)

var payKindCum = cumulative([]float64{76.0, 19.8, 1.55, 2.6})

// Credit card installments 1..24 (index = installments), real frequencies.
var installmentCum = cumulative([]float64{0, 25455, 12413, 10461, 7098, 5239, 3920, 1626, 4268, 644, 5328,
	23, 133, 16, 15, 74, 5, 8, 27, 0, 17, 3, 1, 1, 18})

// Vouchers per voucher order (index = count).
var voucherCountCum = cumulative([]float64{0, 55, 20, 10, 5, 3, 2, 1.5, 1, 0.7, 0.5, 0.4, 0.3, 0.2,
	0.15, 0.1, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.03, 0.02, 0.02, 0.02, 0.01, 0.01, 0.01})

// Items per order (index = count), real frequencies (one item a bit more
// frequent: the real data also has orders without items): mean about 1.133.
var itemCountCum = cumulative([]float64{0, 95400, 7516, 1322, 505, 204, 198, 22, 8, 3, 8, 4, 5, 1, 2, 2, 0, 0, 0, 0, 2, 1})

const maxItems = 21

// Review scores (index = stars) by delivery outcome.
var (
	scoreOnTime    = cumulative([]float64{0, 0.075, 0.022, 0.075, 0.196, 0.632})
	scoreLate      = cumulative([]float64{0, 0.45, 0.12, 0.13, 0.12, 0.18})
	scoreUndeliver = cumulative([]float64{0, 0.70, 0.08, 0.08, 0.05, 0.09})
)

// Per-state late-delivery rate and transit time factor.
var stateLate = map[string]float64{
	"AL": 0.24, "MA": 0.20, "PI": 0.16, "CE": 0.15, "SE": 0.17, "BA": 0.14, "RJ": 0.135, "ES": 0.12,
	"PA": 0.12, "RR": 0.12, "TO": 0.13, "MS": 0.115, "RS": 0.07, "SC": 0.098, "GO": 0.082, "DF": 0.07,
	"PE": 0.107, "PR": 0.05, "MG": 0.056, "SP": 0.059, "AM": 0.04, "AP": 0.045, "AC": 0.037, "RO": 0.029,
	"MT": 0.068, "RN": 0.108, "PB": 0.11,
}

func transitFactor(uf string) float64 {
	switch uf {
	case "SP":
		return 0.6
	case "RJ", "MG", "PR", "SC", "RS", "ES", "GO", "DF", "MS":
		return 1.1
	case "AM", "PA", "AP", "RR", "AC", "RO", "TO", "MT":
		return 2.0
	default:
		return 1.6
	}
}

const (
	day  = 86400
	hour = 3600
)

// transitDays is the median transit time in days from the carrier to the
// customer, before the state's transitFactor; it sets the mean time from
// purchase to delivery of the delivered orders: 12.5 days in the real data.
const transitDays = 7.2

type orderPlan struct {
	i         int64
	quirk     string
	status    int
	payKind   int
	vouchers  int // voucher rows
	withCard  bool
	custState int
	purchase  int64
	approved  int64 // 0 = NULL
	carrier   int64
	delivered int64
	estDay    int64 // local civil day of the estimated delivery date
	late      bool
}

type itemPlan struct {
	product, seller int64
	price, freight  int64 // cents
}

type ordersModel struct {
	*gen
	n      int64
	plant  *planter
	cutoff int64
	bfFrom int64
	bfTo   int64
	cnFrom int64
	cnTo   int64
}

func newOrdersModel(g *gen) *ordersModel {
	m := &ordersModel{gen: g, n: g.nOrders}
	m.plant = newPlanter(g.seed, kOrderCore, m.n, g.scale, orderQuirks)
	m.cutoff = g.tz.dayStart(daysFromCivil(2018, 10, 17)) + 17*hour
	m.bfFrom = daysFromCivil(2017, 11, 20)
	m.bfTo = daysFromCivil(2017, 12, 10)
	m.cnFrom = daysFromCivil(2018, 2, 15)
	m.cnTo = daysFromCivil(2018, 3, 20)
	return m
}

// payShape draws the payment kind and the number of payment rows; the
// first draws of the payment stream.
func (m *ordersModel) payShape(i int64, quirk string, o *orderPlan) rng {
	r := newRNG(m.seed, kOrderPay, uint64(i))
	o.payKind = r.weighted(payKindCum)
	o.vouchers = 0
	o.withCard = false
	if o.payKind == pkVoucher {
		o.vouchers = r.weighted(voucherCountCum)
		o.withCard = r.chance(0.45)
	}
	switch quirk {
	case qPaymentNotDefined:
		o.payKind, o.vouchers, o.withCard = pkNotDefined, 0, false
	case qInstallmentsZero:
		o.payKind, o.vouchers, o.withCard = pkCredit, 0, false
	case qPaymentsMismatch:
		if o.payKind == pkVoucher {
			o.payKind, o.vouchers, o.withCard = pkCredit, 0, false
		}
	}
	return r
}

// payRows is the number of payment rows of order i.
func (m *ordersModel) payRows(o *orderPlan) int {
	switch o.quirk {
	case qOrderWithoutPayment:
		return 0
	case qPaymentValueZero:
		return m.naturalPayRows(o) + 1
	}
	return m.naturalPayRows(o)
}

func (m *ordersModel) naturalPayRows(o *orderPlan) int {
	if o.payKind != pkVoucher {
		return 1
	}
	if o.withCard {
		return o.vouchers + 1
	}
	return o.vouchers
}

func (m *ordersModel) itemCount(i int64, quirk string) int {
	if quirk == qOrderWithoutItems {
		return 0
	}
	r := newRNG(m.seed, kOrderItems, uint64(i))
	return r.weighted(itemCountCum)
}

// reviewCount is the number of reviews of order i: usually 1, sometimes 0,
// 2 or 3 for planted multiple reviews.
func (m *ordersModel) reviewCount(i int64, quirk string) int {
	r := newRNG(m.seed, kOrderReview, uint64(i)*4+3)
	x := r.float()
	switch quirk {
	case qMultipleReviews:
		if x < 0.8 {
			return 2
		}
		return 3
	case qReviewIDReused:
		return 1
	}
	if x < 0.0077 {
		return 0
	}
	return 1
}

// core computes the order row: status and timestamps.
func (m *ordersModel) core(i int64, o *orderPlan) {
	tz := m.tz
	*o = orderPlan{i: i, quirk: m.plant.at(i)}
	m.payShape(i, o.quirk, o)
	r := newRNG(m.seed, kOrderCore, uint64(i))

	// Purchase: the i-th quantile of the calendar.
	q := (float64(i) + r.float()) / float64(m.n)
	d := m.cal.days[min(searchCum(m.cal.cum, q), len(m.cal.days)-1)]
	h := int64(r.weighted(m.cal.hourCum))
	o.purchase = tz.dayStart(d) + h*hour + r.intn(3600)

	o.status = r.weighted(statusCum)
	if d > m.cal.lastDay {
		// The last weeks hold a few orders, mostly canceled.
		o.status = stCanceled
		if r.chance(0.15) {
			o.status = stShipped
		}
	}
	switch o.quirk {
	case qCarrierBeforePurchase, qCarrierBeforeApproval, qDeliveredBeforeCarrier,
		qDeliveredBeforePurchase, qMissingDelivered, qMissingApproval:
		o.status = stDelivered
	case qPaymentNotDefined:
		o.status = stCanceled
	case qOrderWithoutItems:
		// As in the real data: mostly unavailable, some canceled.
		o.status = stUnavailable
		if r.chance(withoutItemsCanceled) {
			o.status = stCanceled
		}
	}
	o.custState = m.customerState(i)
	uf := states[o.custState].uf

	// Approval.
	var appr int64
	switch {
	case o.payKind == pkBoleto:
		appr = int64(clamp(r.lognorm(1.2*day, 0.5), 2*hour, 6*day))
	case r.chance(0.7):
		appr = int64(clamp(r.lognorm(15*60, 0.8), 60, 6*hour))
	default:
		appr = int64(clamp(r.lognorm(4*hour, 1.0), 20*60, 3*day))
	}
	if o.quirk == qCarrierBeforeApproval {
		appr = int64(r.rangeInt(30*hour, 4*day))
	}
	o.approved = o.purchase + appr

	// Hand-over to the carrier and transit.
	cdelay := int64(clamp(r.lognorm(2.2*day, 0.6), 3*hour, 20*day))
	transit := int64(clamp(r.lognorm(transitDays*day*transitFactor(uf), 0.55), 12*hour, 60*day))
	o.carrier = o.approved + cdelay
	if o.quirk == qCarrierBeforeApproval {
		// between purchase and approval
		o.carrier = o.purchase + 600 + r.intn(appr-1200)
	}
	o.delivered = max(o.carrier, o.approved) + transit

	// Estimated delivery: midnight, a generous margin over the expected time.
	expDays := float64(o.delivered-o.purchase) / day
	est := int64(math.Ceil(expDays*1.55 + 3 + 3*math.Abs(r.norm())))
	est = min(max(est, 3), 70)
	o.estDay = tz.dayOf(o.purchase) + est
	if tz.isDSTStart(o.estDay) {
		o.estDay++ // midnight does not exist that day
	}
	estStart := tz.dayStart(o.estDay)

	// Late or on time.
	pLate := stateLate[uf] * 0.85
	if pd := tz.dayOf(o.purchase); pd >= m.bfFrom && pd <= m.bfTo || pd >= m.cnFrom && pd <= m.cnTo {
		pLate *= 2.2
	}
	lateDraw := r.float()
	slack := r.intn(2 * day)
	if lateDraw < pLate {
		o.delivered = max(o.delivered, estStart+hour+int64(r.exp(7*day)))
	} else if o.delivered >= estStart-hour {
		o.delivered = estStart - hour - slack
	}
	if floor := max(o.carrier, o.approved) + 6*hour; o.delivered < floor {
		o.delivered = floor
	}

	// Planted timestamp defects.
	switch o.quirk {
	case qCarrierBeforePurchase:
		// As in the real rows: the same day, 20-100 minutes before the
		// purchase, in whole minutes; approval and delivery as usual.
		o.carrier = o.purchase - 20*60 - r.intn(80*60)
		o.carrier -= o.carrier % 60
	case qDeliveredBeforeCarrier:
		o.carrier = o.approved + max(cdelay, day)
		o.delivered = o.approved + hour + r.intn(o.carrier-o.approved-2*hour)
	case qDeliveredBeforePurchase:
		o.delivered = o.purchase - hour - r.intn(3*day)
	case qMissingDelivered:
		o.delivered = 0
	case qMissingApproval:
		o.approved = 0
	}

	if o.status == stDelivered && o.quirk == "" && o.delivered > m.cutoff {
		o.status = stShipped
	}
	switch o.status {
	case stDelivered:
	case stShipped:
		o.delivered = 0
	case stCanceled:
		o.delivered = 0
		switch x := r.float(); {
		case x < 0.30:
			o.approved, o.carrier = 0, 0
		case x < 0.85:
			o.carrier = 0
		}
	case stCreated:
		o.approved, o.carrier, o.delivered = 0, 0, 0
	default: // unavailable, invoiced, processing, approved
		o.carrier, o.delivered = 0, 0
	}
	o.late = o.status == stDelivered && o.delivered != 0 && o.delivered > estStart
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// --- customers ----------------------------------------------------------------

const repeatRate = 0.034

// personOf returns the order index that created the person placing order i.
// A repeat order points back to an earlier order; chains are short.
func (m *ordersModel) personOf(i int64) int64 {
	for i > 0 {
		r := newRNG(m.seed, kRepeat, uint64(i))
		if r.float() >= repeatRate {
			return i
		}
		var back int64
		if r.chance(0.25) {
			back = 1 + r.intn(min(i, 5))
		} else {
			back = 1 + r.intn(min(i, max(m.n/3, 1)))
		}
		i -= back
	}
	return 0
}

// customerHome returns the order index whose location draw gives the
// customer's address for order i: the person's first order, unless the person
// moved.
func (m *ordersModel) customerHome(i int64) int64 {
	root := m.personOf(i)
	if root == i {
		return i
	}
	r := newRNG(m.seed, kCustomerMove, uint64(i))
	if r.chance(0.1) {
		return i
	}
	return root
}

// location draws the state and zip prefix of home h.
func (m *ordersModel) location(h int64) (state, prefix int) {
	r := newRNG(m.seed, kCustomerLoc, uint64(h))
	state = r.weighted(m.geo.custCum)
	return state, m.geo.sample(state, &r)
}

func (m *ordersModel) customerState(i int64) int {
	s, _ := m.location(m.customerHome(i))
	return s
}

// --- items --------------------------------------------------------------------

// items fills the items of order i and returns their number.
func (m *ordersModel) items(o *orderPlan, out *[maxItems]itemPlan) int {
	if o.quirk == qOrderWithoutItems {
		return 0
	}
	r := newRNG(m.seed, kOrderItems, uint64(o.i))
	k := r.weighted(itemCountCum)
	distinct := 1
	if k > 1 && !r.chance(0.7) {
		distinct = 2 + int(r.intn(int64(k-1)))
	}
	// Units per distinct product: one each, the rest at random.
	var units [maxItems]int
	for j := 0; j < distinct; j++ {
		units[j] = 1
	}
	for u := distinct; u < k; u++ {
		units[r.intn(int64(distinct))]++
	}
	n := 0
	for j := 0; j < distinct; j++ {
		p := m.pickProduct(&r)
		seller := m.productSeller(p)
		if r.chance(0.06) {
			seller = m.altSeller(p)
		}
		price := m.productPrice(p)
		freight := int64(math.Round(r.lognorm(1550, 0.5)))
		if r.chance(0.1) {
			freight = freight * 5 / 2
		}
		freight = min(max(freight, 150), 40968)
		for u := 0; u < units[j]; u++ {
			out[n] = itemPlan{product: p, seller: seller, price: price, freight: freight}
			n++
		}
	}
	if o.quirk == qFreightZero {
		out[0].freight = 0
	}
	return n
}

// pickProduct draws a product: a uniform part and a skewed part that makes a
// few products best sellers.
func (m *ordersModel) pickProduct(r *rng) int64 {
	if r.chance(0.65) {
		return r.intn(m.nProducts)
	}
	p := int64(float64(m.nProducts) * math.Pow(r.float(), 2.2))
	return min(p, m.nProducts-1)
}

func (m *ordersModel) productSeller(p int64) int64 {
	s := int64(float64(m.nSellers) * math.Pow(hash01(m.seed, kProductSale, uint64(p)), 2))
	return min(s, m.nSellers-1)
}

func (m *ordersModel) altSeller(p int64) int64 {
	return int64(hash64(m.seed, kProductSale, uint64(p)+1<<40) % uint64(m.nSellers))
}

// productPrice is the product's base price in cents (log-normal, median about
// 75, mean about 120), with the usual price endings.
func (m *ordersModel) productPrice(p int64) int64 {
	r := newRNG(m.seed, kProductSale, uint64(p))
	v := clamp(r.lognorm(74, 0.97), 0.85, 6735)
	if v < 10 {
		return int64(math.Round(v * 100))
	}
	whole := int64(v)
	switch x := r.float(); {
	case x < 0.35:
		return whole*100 + 90
	case x < 0.55:
		return whole*100 + 99
	case x < 0.75:
		return whole * 100
	default:
		return whole*100 + r.intn(100)
	}
}

// --- payments -----------------------------------------------------------------

type payPlan struct {
	kind  int
	inst  int64
	value int64
}

var payTypeNames = [...]string{"credit_card", "boleto", "debit_card", "voucher", "not_defined"}

// payments fills the payments of an order whose items total total cents.
func (m *ordersModel) payments(o *orderPlan, total int64, out []payPlan) []payPlan {
	out = out[:0]
	if o.quirk == qOrderWithoutPayment {
		return out
	}
	if o.quirk == qOrderWithoutItems {
		// Paid for items the export does not list: an amount like a typical
		// basket, from the order's own random stream.
		r := newRNG(m.seed, kOrderItems, uint64(o.i))
		total = int64(math.Round(clamp(r.lognorm(13500, 0.8), 1000, 500000)))
	}
	r := m.payShape(o.i, o.quirk, o)
	inst := func() int64 {
		n := int64(r.weighted(installmentCum))
		return max(1, min(n, total/1000))
	}
	switch o.quirk {
	case qPaymentNotDefined:
		return append(out, payPlan{pkNotDefined, 1, total})
	case qInstallmentsZero:
		return append(out, payPlan{pkCredit, 0, total})
	case qPaymentsMismatch:
		delta := max(100, int64(float64(total)*(0.02+0.28*r.float())))
		v := total + delta
		if r.chance(0.3) && total-delta >= 100 {
			v = total - delta
		}
		if o.payKind == pkCredit {
			return append(out, payPlan{pkCredit, inst(), v})
		}
		return append(out, payPlan{o.payKind, 1, v})
	}
	switch o.payKind {
	case pkCredit:
		out = append(out, payPlan{pkCredit, inst(), total})
	case pkBoleto, pkDebit:
		out = append(out, payPlan{o.payKind, 1, total})
	case pkVoucher:
		vtotal := total
		if o.withCard {
			share := 0.05 + 0.85*r.float()
			vtotal = min(max(int64(o.vouchers), int64(float64(total)*share)), total-1)
			out = append(out, payPlan{pkCredit, inst(), total - vtotal})
		}
		// Split vtotal into o.vouchers parts of at least one cent.
		nv := int64(o.vouchers)
		rest := vtotal - nv
		for k := int64(0); k < nv; k++ {
			part := int64(1)
			if k == nv-1 {
				part += rest
			} else {
				share := int64(float64(rest) * r.float() * 2 / float64(nv-k))
				share = min(share, rest)
				part += share
				rest -= share
			}
			out = append(out, payPlan{pkVoucher, 1, part})
		}
	}
	if o.quirk == qPaymentValueZero {
		out = append(out, payPlan{pkVoucher, 1, 0})
	}
	return out
}

// --- reviews ------------------------------------------------------------------

type reviewPlan struct {
	order, idx  int64 // the review id is (order, idx)
	score       int
	creation    int64 // local wall clock of review_creation_date
	answer      int64 // instant
	title, text []byte
}

// review computes review k of order o. Review 0 is the one a pipeline keeps:
// extra reviews (planted multiple reviews) were answered earlier.
func (m *ordersModel) review(o *orderPlan, k int, rv *reviewPlan) {
	tz := m.tz
	r := newRNG(m.seed, kOrderReview, uint64(o.i)*4+uint64(k))
	rv.order, rv.idx = o.i, int64(k)
	cum := scoreOnTime
	switch {
	case o.status != stDelivered:
		cum = scoreUndeliver
	case o.late:
		cum = scoreLate
	}
	rv.score = r.weighted(cum)
	rv.title = rv.title[:0]
	rv.text = rv.text[:0]
	hasMsg := r.chance(messageRate[rv.score])
	if hasMsg && r.chance(0.25) || !hasMsg && r.chance(0.03) {
		rv.title = appendTitle(rv.title, &r, rv.score)
	}
	if hasMsg {
		rv.text = appendMessage(rv.text, &r, rv.score)
	}
	// The survey is sent the day after delivery (or after the estimate).
	base := o.estDay
	if o.delivered != 0 && o.status == stDelivered {
		base = tz.dayOf(o.delivered)
	}
	base = max(base, tz.dayOf(o.purchase)) + 1
	delay := int64(clamp(r.lognorm(1.3*day, 1.0), 20*60, 120*day))
	if k == 0 {
		start := tz.dayStart(base)
		rv.creation = tz.localSec(start)
		rv.answer = start + delay
		return
	}
	// An extra review: created earlier, answered before the kept one.
	primary := tz.dayStart(base)
	cday := max(base-int64(k)*(1+r.intn(10)), tz.dayOf(o.purchase)+1)
	if cday >= base {
		cday = base - 1
	}
	start := tz.dayStart(cday)
	rv.creation = tz.localSec(start)
	rv.answer = start + min(delay, (primary-start)*9/10)
}

// donor finds the order whose first review id a planted reused review
// borrows: the next order that has exactly its own single review.
func (m *ordersModel) donor(i int64) int64 {
	for k := int64(1); k < m.n; k++ {
		j := (i + k) % m.n
		q := m.plant.at(j)
		if q != "" {
			continue
		}
		if m.reviewCount(j, q) == 1 {
			return j
		}
	}
	return -1
}
