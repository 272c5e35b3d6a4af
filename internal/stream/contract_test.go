package stream

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/olist"
)

// Every entity of the event contract maps one to one to a source table: the
// same columns, in order, of the matching kind, optional exactly when
// nullable; and every table with a key but geolocation and the translation
// (reference data, loaded as files) has an entity.
func TestContractMapping(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, e := range r.List() {
		tables = append(tables, e.Table.Name)
		if len(e.cols) != len(e.Table.Columns) {
			t.Errorf("%s: %d fields for %d columns", e.Table.Name, len(e.cols), len(e.Table.Columns))
		}
	}
	want := "orders customers order_items order_payments order_reviews products sellers"
	if got := strings.Join(tables, " "); got != want {
		t.Errorf("entities %s, want %s", got, want)
	}
	for _, tb := range olist.Tables() {
		if _, ok := r.ByTable(tb.Name); !ok && tb.Name != "geolocation" && tb.Name != "category_translation" {
			t.Errorf("table %s has no event", tb.Name)
		}
	}
}

func order(mut func(o *nexusv1.Order)) *nexusv1.Event {
	o := &nexusv1.Order{EventId: "e1", EventTime: timestamppb.Now(), OrderId: "0001", CustomerId: "c1",
		OrderStatus: "delivered", OrderPurchaseTimestamp: "2018-07-01 10:00:00", OrderEstimatedDeliveryDate: "2018-07-20 00:00:00",
		OrderApprovedAt: proto.String("2018-07-01 10:10:00")}
	if mut != nil {
		mut(o)
	}
	return &nexusv1.Event{Entity: &nexusv1.Event_Order{Order: o}}
}

func TestValidate(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	payment := func(v string) *nexusv1.Event {
		return &nexusv1.Event{Entity: &nexusv1.Event_OrderPayment{OrderPayment: &nexusv1.OrderPayment{EventId: "p1", EventTime: timestamppb.Now(),
			OrderId: "0001", PaymentSequential: 1, PaymentType: "boleto", PaymentInstallments: 1, PaymentValue: v}}}
	}
	cases := []struct {
		name string
		ev   *nexusv1.Event
		want string // "" valid, else in the error
	}{
		{"valid order", order(nil), ""},
		{"no entity", &nexusv1.Event{}, "event 3 (no event_id): event: no entity set"},
		{"no event id", order(func(o *nexusv1.Order) { o.EventId = "" }), "order.event_id: required"},
		{"no event time", order(func(o *nexusv1.Order) { o.EventTime = nil }), "order.event_time: required"},
		{"required column", order(func(o *nexusv1.Order) { o.CustomerId = "" }), "event 3 (e1): order.customer_id: required"},
		{"enum", order(func(o *nexusv1.Order) { o.OrderStatus = "lost" }), `order.order_status: "lost" is not one of`},
		{"timestamp", order(func(o *nexusv1.Order) { o.OrderPurchaseTimestamp = "2018-07-01T10:00:00Z" }), "order.order_purchase_timestamp"},
		{"nullable timestamp set badly", order(func(o *nexusv1.Order) { o.OrderApprovedAt = proto.String("yesterday") }), "order.order_approved_at"},
		{"money", payment("12.345"), "order_payment.payment_value"},
		{"money ok", payment("129.9"), ""},
		{"event time out of range", order(func(o *nexusv1.Order) { o.EventTime = &timestamppb.Timestamp{Seconds: 253402300800 + 86400} }), "order.event_time"},
		{"value too long", order(func(o *nexusv1.Order) { o.CustomerId = strings.Repeat("x", maxFieldBytes+1) }), "order.customer_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := r.Validate(3, tc.ev)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if rec.Entity == nil || rec.Key() != "0001" {
					t.Errorf("record %+v", rec)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	rec, err := r.Validate(0, order(nil))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Values[5] != nil || *rec.Values[4] != "2018-07-01 10:10:00" {
		t.Errorf("values: approved %v, carrier %v", rec.Values[4], rec.Values[5])
	}
}

// isMoney takes what fits DECIMAL(12,2) and nothing else.
func TestIsMoney(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "129.90": true, "-5.5": true, "1234567890.12": true, "7.": false, ".5": false, "": false, "-": false,
		"12345678901": false, "1.234": false, "1,50": false, "1e3": false, "+1": false, "--1": false, " 1": false, "1.2x": false,
	} {
		if got := isMoney(s); got != want {
			t.Errorf("isMoney(%q) = %v", s, got)
		}
	}
}
