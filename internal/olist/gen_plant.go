package olist

import "math"

// Planted data-quality defects. Rare defects get exact counts (scaled, at
// least 1) on disjoint, evenly spread entity indexes, so every defect exists at
// every scale and two defects never land on the same entity by accident.

// Quirk ids written to _planted.jsonl.
const (
	qCarrierBeforePurchase   = "carrier_before_purchase"
	qCarrierBeforeApproval   = "carrier_before_approval"
	qDeliveredBeforeCarrier  = "delivered_before_carrier"
	qDeliveredBeforePurchase = "delivered_before_purchase"
	qMissingDelivered        = "missing_delivered_date_on_delivered"
	qMissingApproval         = "missing_approval_on_delivered"
	qOrderWithoutPayment     = "order_without_payment"
	qOrderWithoutItems       = "order_without_items"
	qPaymentsMismatch        = "payments_mismatch"
	qPaymentNotDefined       = "payment_type_not_defined"
	qInstallmentsZero        = "installments_zero"
	qPaymentValueZero        = "payment_value_zero"
	qFreightZero             = "freight_zero"
	qShippingLimitFar        = "shipping_limit_far_future"
	qMultipleReviews         = "order_multiple_reviews"
	qReviewIDReused          = "review_id_reused"
	qCustomerZipNoGeo        = "customer_zip_not_in_geolocation"
	qProductNoCategory       = "product_no_category"
	qCategoryNoTranslation   = "category_missing_translation"
	qProductNoDimensions     = "product_no_dimensions"
	qWeightZero              = "weight_zero"
	qSellerCityDirty         = "seller_city_dirty"
	qSellerZipNoGeo          = "seller_zip_not_in_geolocation"
	qGeoOutsideBrazil        = "geo_outside_brazil"
	qGeoDuplicate            = "geo_exact_duplicate"
	qGeoAccentVariant        = "geo_accent_variant"
)

type quirkSpec struct {
	quirk string
	base  float64 // count at scale 1
}

// Order-level defects (the orders domain covers orders, customers, items,
// payments and reviews: they are all derived from the order index).
var orderQuirks = []quirkSpec{
	{qCarrierBeforePurchase, 169}, // 0.17% of the real orders
	{qCarrierBeforeApproval, 1000},
	{qDeliveredBeforeCarrier, 25},
	{qDeliveredBeforePurchase, 5},
	{qMissingDelivered, 8},
	{qMissingApproval, 14},
	{qOrderWithoutPayment, 1},
	{qOrderWithoutItems, 775}, // the real data: 775 orders, mostly unavailable, paid but with no item
	{qPaymentsMismatch, 300},
	{qPaymentNotDefined, 3},
	{qInstallmentsZero, 2},
	{qPaymentValueZero, 9},
	{qFreightZero, 380},
	{qShippingLimitFar, 4},
	{qMultipleReviews, 500},
	{qReviewIDReused, 800},
	{qCustomerZipNoGeo, 280},
}

var productQuirks = []quirkSpec{
	{qProductNoCategory, 610},
	{qCategoryNoTranslation, 13},
	{qProductNoDimensions, 2},
	{qWeightZero, 4},
}

var sellerQuirks = []quirkSpec{
	{qSellerCityDirty, 24},
	{qSellerZipNoGeo, 7},
}

var geoQuirks = []quirkSpec{
	{qGeoOutsideBrazil, 30},
}

// planter places exact counts of rare quirks on disjoint slots of [0,n).
// Slot k sits at off + floor(k*n/t); an affine permutation of the slots
// spreads every quirk over the whole range.
type planter struct {
	n, t, off int64
	a, b      uint64
	cum       []int64
	quirks    []string
	counts    []int64
}

func newPlanter(seed int64, kind uint64, n int64, scale float64, specs []quirkSpec) *planter {
	p := &planter{n: n}
	counts := make([]int64, len(specs))
	var t int64
	for i, s := range specs {
		c := int64(math.Round(s.base * scale))
		if c < 1 {
			c = 1
		}
		counts[i] = c
		t += c
	}
	// Keep planted entities a minority, even in tiny runs: hand the slots out
	// round-robin so every quirk gets one before any gets two.
	if limit := n / 3; t > limit {
		want := counts
		counts = make([]int64, len(want))
		t = 0
		for more := true; more && t < limit; {
			more = false
			for i := range want {
				if t < limit && counts[i] < want[i] {
					counts[i]++
					t++
					more = true
				}
			}
		}
	}
	p.t = t
	p.counts = counts
	var c int64
	for i, s := range specs {
		if counts[i] == 0 {
			continue
		}
		c += counts[i]
		p.cum = append(p.cum, c)
		p.quirks = append(p.quirks, s.quirk)
	}
	if t == 0 {
		return p
	}
	h := hash64(seed, kPlanter, kind)
	p.off = int64(h % uint64(n/t))
	p.a = uint64(float64(t)*0.38196601125)%uint64(t) | 1
	for gcd(p.a, uint64(t)) != 1 {
		p.a++
	}
	p.b = mix64(h) % uint64(t)
	return p
}

// at returns the quirk planted on entity i, or "".
func (p *planter) at(i int64) string {
	if p.t == 0 || i < p.off {
		return ""
	}
	x := i - p.off
	k := (x*p.t + p.n - 1) / p.n // smallest k with floor(k*n/t) >= x
	if k >= p.t || k*p.n/p.t != x {
		return ""
	}
	pos := int64((p.a%uint64(p.t)*uint64(k) + p.b) % uint64(p.t))
	lo, hi := 0, len(p.cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if p.cum[m] > pos {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return p.quirks[lo]
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
