package olist

import (
	"context"
	"math"
)

// File-order permutation kinds (one per file, so files list rows differently).
const (
	permOrders uint64 = iota + 100
	permCustomers
	permItems
	permPayments
	permReviews
	permProducts
	permSellers
)

const tickEvery = 1 << 16

// loop runs fn for every row index r in [0,n), checking ctx and reporting
// progress periodically.
func loop(ctx context.Context, n int64, tick func(int64), fn func(r int64)) error {
	for r := int64(0); r < n; r++ {
		if r&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if r&(tickEvery-1) == 0 && r > 0 {
				tick(r)
			}
		}
		fn(r)
	}
	return ctx.Err()
}

func keyCol(m *manifest, rec *record, t Table, col int) {
	m.keyStr(t.Columns[col].Name, rec.bytesOf(col))
}

func writeOrders(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cOrder, cCust, cStatus := cs.col("order_id"), cs.col("customer_id"), cs.col("order_status")
	cPurchase, cApproved, cCarrier := cs.col("order_purchase_timestamp"), cs.col("order_approved_at"), cs.col("order_delivered_carrier_date")
	cDelivered, cEst := cs.col("order_delivered_customer_date"), cs.col("order_estimated_delivery_date")
	if err := cs.check(); err != nil {
		return err
	}
	om := g.orders
	pm := newPerm(g.seed, permOrders, om.n)
	rec := newRecord(t)
	var o orderPlan
	return loop(ctx, om.n, tick, func(r int64) {
		i := pm.at(r)
		om.core(i, &o)
		rec.reset()
		rec.id(cOrder, g.seed, idOrder, uint64(i))
		rec.id(cCust, g.seed, idCustomer, uint64(i))
		rec.strS(cStatus, statusNames[o.status])
		rec.ts(cPurchase, o.purchase)
		rec.ts(cApproved, o.approved)
		rec.ts(cCarrier, o.carrier)
		rec.ts(cDelivered, o.delivered)
		rec.local(cEst, o.estDay*day)
		line := cw.write(rec, g.tz)
		switch o.quirk {
		case qCarrierBeforePurchase, qCarrierBeforeApproval, qDeliveredBeforeCarrier, qDeliveredBeforePurchase,
			qMissingDelivered, qMissingApproval, qOrderWithoutPayment, qOrderWithoutItems:
			m.start()
			keyCol(m, rec, t, cOrder)
			m.done(line, o.quirk)
		}
	})
}

func writeCustomers(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cCust, cUnique, cZip := cs.col("customer_id"), cs.col("customer_unique_id"), cs.col("customer_zip_code_prefix")
	cCity, cState := cs.col("customer_city"), cs.col("customer_state")
	if err := cs.check(); err != nil {
		return err
	}
	om := g.orders
	pm := newPerm(g.seed, permCustomers, om.n)
	rec := newRecord(t)
	var zip [5]byte
	return loop(ctx, om.n, tick, func(r int64) {
		i := pm.at(r)
		st, p := om.location(om.customerHome(i))
		planted := false
		if om.plant.at(i) == qCustomerZipNoGeo {
			rr := newRNG(g.seed, kCustomerLoc, uint64(i)+1<<40)
			if np := g.geo.inactive(st, &rr); np >= 0 {
				p, planted = np, true
			}
		}
		rec.reset()
		rec.id(cCust, g.seed, idCustomer, uint64(i))
		rec.id(cUnique, g.seed, idPerson, uint64(om.personOf(i)))
		rec.str(cZip, appendZip(zip[:0], p))
		rec.strS(cCity, g.geo.cityName(p))
		rec.strS(cState, states[st].uf)
		line := cw.write(rec, g.tz)
		if planted {
			m.start()
			keyCol(m, rec, t, cCust)
			m.done(line, qCustomerZipNoGeo)
		}
	})
}

func writeItems(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cOrder, cItem, cProduct, cSeller := cs.col("order_id"), cs.col("order_item_id"), cs.col("product_id"), cs.col("seller_id")
	cLimit, cPrice, cFreight := cs.col("shipping_limit_date"), cs.col("price"), cs.col("freight_value")
	if err := cs.check(); err != nil {
		return err
	}
	om := g.orders
	pm := newPerm(g.seed, permItems, om.n)
	rec := newRecord(t)
	var o orderPlan
	var items [maxItems]itemPlan
	var rows int64
	return loop(ctx, om.n, func(int64) { tick(rows) }, func(r int64) {
		i := pm.at(r)
		om.core(i, &o)
		n := om.items(&o, &items)
		lr := newRNG(g.seed, kOrderItems, uint64(i)+1<<40)
		base := o.approved
		if base == 0 {
			base = o.purchase
		}
		limit := base + int64(clamp(lr.lognorm(6*day, 0.25), 2*day, 20*day))
		for k := 0; k < n; k++ {
			it := &items[k]
			lim := limit
			far := k == 0 && o.quirk == qShippingLimitFar
			if far {
				lim = base + 700*day + lr.intn(200*day)
			}
			rec.reset()
			rec.id(cOrder, g.seed, idOrder, uint64(i))
			rec.num(cItem, int64(k+1))
			rec.id(cProduct, g.seed, idProduct, uint64(it.product))
			rec.id(cSeller, g.seed, idSeller, uint64(it.seller))
			rec.ts(cLimit, lim)
			rec.num(cPrice, it.price)
			rec.num(cFreight, it.freight)
			line := cw.write(rec, g.tz)
			rows++
			q := ""
			switch {
			case far:
				q = qShippingLimitFar
			case k == 0 && o.quirk == qFreightZero:
				q = qFreightZero
			}
			if q != "" {
				m.start()
				keyCol(m, rec, t, cOrder)
				m.keyInt(t.Columns[cItem].Name, int64(k+1))
				m.done(line, q)
			}
		}
	})
}

func writePayments(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cOrder, cSeq, cType := cs.col("order_id"), cs.col("payment_sequential"), cs.col("payment_type")
	cInst, cValue := cs.col("payment_installments"), cs.col("payment_value")
	if err := cs.check(); err != nil {
		return err
	}
	om := g.orders
	pm := newPerm(g.seed, permPayments, om.n)
	rec := newRecord(t)
	var o orderPlan
	var items [maxItems]itemPlan
	pays := make([]payPlan, 0, 32)
	var rows int64
	return loop(ctx, om.n, func(int64) { tick(rows) }, func(r int64) {
		i := pm.at(r)
		o = orderPlan{i: i, quirk: om.plant.at(i)}
		n := om.items(&o, &items)
		var total int64
		for k := 0; k < n; k++ {
			total += items[k].price + items[k].freight
		}
		pays = om.payments(&o, total, pays)
		for k, p := range pays {
			rec.reset()
			rec.id(cOrder, g.seed, idOrder, uint64(i))
			rec.num(cSeq, int64(k+1))
			rec.strS(cType, payTypeNames[p.kind])
			rec.num(cInst, p.inst)
			rec.num(cValue, p.value)
			line := cw.write(rec, g.tz)
			rows++
			q := ""
			switch o.quirk {
			case qPaymentNotDefined, qInstallmentsZero, qPaymentsMismatch:
				q = o.quirk
			case qPaymentValueZero:
				if k == len(pays)-1 {
					q = o.quirk
				}
			}
			if q != "" {
				m.start()
				keyCol(m, rec, t, cOrder)
				m.keyInt(t.Columns[cSeq].Name, int64(k+1))
				m.done(line, q)
			}
		}
	})
}

func writeReviews(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cReview, cOrder, cScore := cs.col("review_id"), cs.col("order_id"), cs.col("review_score")
	cTitle, cMessage := cs.col("review_comment_title"), cs.col("review_comment_message")
	cCreation, cAnswer := cs.col("review_creation_date"), cs.col("review_answer_timestamp")
	if err := cs.check(); err != nil {
		return err
	}
	om := g.orders
	pm := newPerm(g.seed, permReviews, om.n)
	rec := newRecord(t)
	var o, od orderPlan
	var rv reviewPlan
	var rows int64
	return loop(ctx, om.n, func(int64) { tick(rows) }, func(r int64) {
		i := pm.at(r)
		om.core(i, &o)
		n := om.reviewCount(i, o.quirk)
		for k := 0; k < n; k++ {
			q := ""
			switch {
			case k == 0 && o.quirk == qReviewIDReused:
				if j := om.donor(i); j >= 0 {
					om.core(j, &od)
					om.review(&od, 0, &rv)
					q = qReviewIDReused
				} else {
					om.review(&o, 0, &rv)
				}
			case k > 0:
				om.review(&o, k, &rv)
				q = qMultipleReviews
			default:
				om.review(&o, 0, &rv)
			}
			rec.reset()
			rec.id(cReview, g.seed, idReview, uint64(rv.order*4+rv.idx))
			rec.id(cOrder, g.seed, idOrder, uint64(i))
			rec.num(cScore, int64(rv.score))
			rec.str(cTitle, rv.title)
			rec.str(cMessage, rv.text)
			rec.local(cCreation, rv.creation)
			rec.ts(cAnswer, rv.answer)
			line := cw.write(rec, g.tz)
			rows++
			if q != "" {
				m.start()
				keyCol(m, rec, t, cReview)
				keyCol(m, rec, t, cOrder)
				m.done(line, q)
			}
		}
	})
}

func writeProducts(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cID, cCat := cs.col("product_id"), cs.col("product_category_name")
	cName, cDesc, cPhotos := cs.col("product_name_length"), cs.col("product_description_length"), cs.col("product_photos_qty")
	cWeight, cLen, cHeight, cWidth := cs.col("product_weight_g"), cs.col("product_length_cm"), cs.col("product_height_cm"), cs.col("product_width_cm")
	if err := cs.check(); err != nil {
		return err
	}
	pm := newPerm(g.seed, permProducts, g.nProducts)
	rec := newRecord(t)
	round := func(v, lo, hi float64) int64 { return int64(math.Round(clamp(v, lo, hi))) }
	return loop(ctx, g.nProducts, tick, func(r int64) {
		p := pm.at(r)
		q := g.prodPlant.at(p)
		rn := newRNG(g.seed, kProduct, uint64(p))
		cat := g.catNames[rn.weighted(g.catCum)]
		nameLen := round(49+10*rn.norm(), 5, 76)
		descLen := round(rn.lognorm(600, 0.75), 4, 3992)
		var photos int64
		switch x := rn.float(); {
		case x < 0.50:
			photos = 1
		case x < 0.69:
			photos = 2
		case x < 0.80:
			photos = 3
		case x < 0.88:
			photos = 4
		default:
			photos = 5 + rn.intn(16)
		}
		weight := round(rn.lognorm(700, 1.25), 2, 40425)
		length := round(rn.lognorm(25, 0.5), 7, 105)
		height := round(rn.lognorm(13, 0.7), 2, 105)
		width := round(rn.lognorm(20, 0.5), 6, 118)
		rec.reset()
		rec.id(cID, g.seed, idProduct, uint64(p))
		switch q {
		case qProductNoCategory:
			// no category, name, description nor photos
		case qCategoryNoTranslation:
			rec.strS(cCat, untranslatedCategories[rn.intn(int64(len(untranslatedCategories)))])
		default:
			rec.strS(cCat, cat)
		}
		if q != qProductNoCategory {
			rec.num(cName, nameLen)
			rec.num(cDesc, descLen)
			rec.num(cPhotos, photos)
		}
		if q != qProductNoDimensions {
			if q == qWeightZero {
				weight = 0
			}
			rec.num(cWeight, weight)
			rec.num(cLen, length)
			rec.num(cHeight, height)
			rec.num(cWidth, width)
		}
		line := cw.write(rec, g.tz)
		if q != "" {
			m.start()
			keyCol(m, rec, t, cID)
			m.done(line, q)
		}
	})
}

func writeSellers(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cID, cZip, cCity, cState := cs.col("seller_id"), cs.col("seller_zip_code_prefix"), cs.col("seller_city"), cs.col("seller_state")
	if err := cs.check(); err != nil {
		return err
	}
	pm := newPerm(g.seed, permSellers, g.nSellers)
	rec := newRecord(t)
	var zip [5]byte
	city := make([]byte, 0, 128)
	return loop(ctx, g.nSellers, tick, func(r int64) {
		s := pm.at(r)
		q := g.sellerPlant.at(s)
		rn := newRNG(g.seed, kSeller, uint64(s))
		st := rn.weighted(g.geo.sellCum)
		p := g.geo.sample(st, &rn)
		if q == qSellerZipNoGeo {
			if np := g.geo.inactive(st, &rn); np >= 0 {
				p = np
			} else {
				q = ""
			}
		}
		city = append(city[:0], g.geo.cityName(p)...)
		if q == qSellerCityDirty {
			city = dirtyCity(city[:0], g.geo.cityName(p), states[st], p, &rn)
		}
		rec.reset()
		rec.id(cID, g.seed, idSeller, uint64(s))
		rec.str(cZip, appendZip(zip[:0], p))
		rec.str(cCity, city)
		rec.strS(cState, states[st].uf)
		line := cw.write(rec, g.tz)
		if q != "" {
			m.start()
			keyCol(m, rec, t, cID)
			m.done(line, q)
		}
	})
}

// dirtyCity writes a city the way some sellers typed it.
func dirtyCity(dst []byte, city string, st ufInfo, p int, r *rng) []byte {
	uf := []byte{st.uf[0] | 0x20, st.uf[1] | 0x20}
	switch r.intn(6) {
	case 0: // a full zip code
		dst = appendZip(dst, p)
		return append(dst, byte('0'+r.intn(10)), byte('0'+r.intn(10)), byte('0'+r.intn(10)))
	case 1:
		if city == "sao bernardo do campo" {
			return append(dst, "sbc/sp"...)
		}
		dst = append(dst, city...)
		dst = append(dst, '/')
		return append(dst, uf...)
	case 2:
		dst = append(dst, city...)
		dst = append(dst, " - "...)
		return append(dst, uf...)
	case 3: // needs quoting
		dst = append(dst, city...)
		dst = append(dst, ", "...)
		dst = append(dst, st.name...)
		return append(dst, ", brasil"...)
	case 4: // an e-mail address
		dst = append(dst, "vendas@"...)
		for i := 0; i < len(city); i++ {
			if city[i] != ' ' {
				dst = append(dst, city[i])
			}
		}
		return append(dst, ".com.br"...)
	default:
		dst = append(dst, city...)
		dst = append(dst, " / "...)
		return append(dst, st.name...)
	}
}

func writeGeolocation(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cZip, cLat, cLng := cs.col("geolocation_zip_code_prefix"), cs.col("geolocation_lat"), cs.col("geolocation_lng")
	cCity, cState := cs.col("geolocation_city"), cs.col("geolocation_state")
	if err := cs.check(); err != nil {
		return err
	}
	gm := g.geo
	rec := newRecord(t)
	var zip [5]byte
	var gi int64 // global row index
	for p := range gm.zips {
		z := &gm.zips[p]
		if !z.active {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		clat, clng := gm.centroid(p)
		city := &states[z.st].cities[z.city]
		start := gi
		for k := int64(0); k < int64(z.rows); k++ {
			if gi&(tickEvery-1) == 0 && gi > 0 {
				tick(gi)
			}
			src, dup := g.geoSource(gi, start)
			lat, lng, accent, outside := g.geoPoint(src, clat, clng, city)
			rec.reset()
			rec.str(cZip, appendZip(zip[:0], p))
			rec.float(cLat, lat)
			rec.float(cLng, lng)
			if accent {
				rec.strS(cCity, city.accent)
			} else {
				rec.strS(cCity, city.plain)
			}
			rec.strS(cState, states[z.st].uf)
			line := cw.write(rec, g.tz)
			plant := func(q string) {
				m.start()
				keyCol(m, rec, t, cZip)
				m.keyFloat(t.Columns[cLat].Name, lat)
				m.keyFloat(t.Columns[cLng].Name, lng)
				m.done(line, q)
			}
			if dup {
				plant(qGeoDuplicate)
			}
			if outside {
				plant(qGeoOutsideBrazil)
			}
			if accent {
				plant(qGeoAccentVariant)
			}
			gi++
		}
	}
	return ctx.Err()
}

// geoSource returns the row whose point row gi repeats (an earlier row of the
// same prefix starting at start), or gi itself.
func (g *gen) geoSource(gi, start int64) (int64, bool) {
	cur := gi
	dup := false
	for cur > start && g.geoPlant.at(cur) == "" {
		rn := newRNG(g.seed, kGeoDup, uint64(cur))
		if rn.float() >= geoDupRate {
			break
		}
		cur = start + rn.intn(cur-start)
		dup = true
	}
	if dup && g.geoPlant.at(cur) != "" {
		return gi, false // never repeat a planted outlier
	}
	return cur, dup
}

// geoPoint returns the point of a non-duplicate row.
func (g *gen) geoPoint(gi int64, clat, clng float64, city *cityInfo) (lat, lng float64, accent, outside bool) {
	rn := newRNG(g.seed, kGeoPoint, uint64(gi))
	if g.geoPlant.at(gi) == qGeoOutsideBrazil {
		// Iberia and France: lat 38..46, lng -9..+5.
		return 38 + 8*rn.float(), -9 + 14*rn.float(), false, true
	}
	lat = clat + 0.004*rn.norm()
	lng = clng + 0.004*rn.norm()
	accent = city.accent != "" && rn.chance(geoAccent)
	return lat, lng, accent, false
}

func writeTranslation(ctx context.Context, g *gen, cw *csvWriter, m *manifest, tick func(int64)) error {
	t := cw.t
	cs := newColumns(t)
	cPT, cEN := cs.col("product_category_name"), cs.col("product_category_name_english")
	if err := cs.check(); err != nil {
		return err
	}
	rec := newRecord(t)
	for _, ct := range categoryTranslation {
		rec.reset()
		rec.strS(cPT, ct[0])
		rec.strS(cEN, ct[1])
		cw.write(rec, g.tz)
	}
	return ctx.Err()
}
