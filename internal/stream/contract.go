package stream

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/olist"
)

// Envelope fields every entity message has besides its columns.
const (
	fieldEventID   = "event_id"
	fieldEventTime = "event_time"
)

// Entity is one kind of event: a message of the oneof of nexusv1.Event and
// the source table its fields map to, column for column.
type Entity struct {
	Field protoreflect.FieldDescriptor // the oneof field of Event (order, order_item...)
	Table olist.Table
	// cols[i] is the message field of Table.Columns[i].
	cols []protoreflect.FieldDescriptor
}

// Topic is the Kafka topic of the entity's events.
func (e Entity) Topic(prefix string) string { return prefix + e.Table.Name }

// Entities maps the event contract to the source contract: the Event's oneof
// field named f carries the table named f+"s" (order → orders). An error
// says what does not map; a test keeps it nil.
func Entities() ([]Entity, error) {
	oneof := (&nexusv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("entity")
	if oneof == nil {
		return nil, fmt.Errorf("stream: nexus.v1.Event has no oneof entity")
	}
	var out []Entity
	for i := range oneof.Fields().Len() {
		f := oneof.Fields().Get(i)
		t, err := olist.Lookup(string(f.Name()) + "s")
		if err != nil {
			return nil, fmt.Errorf("stream: event %s maps to no source table: %w", f.Name(), err)
		}
		e := Entity{Field: f, Table: t}
		msg := f.Message()
		if msg == nil {
			return nil, fmt.Errorf("stream: event %s is not a message", f.Name())
		}
		if err := envelope(msg); err != nil {
			return nil, err
		}
		if n := msg.Fields().Len() - 2; n != len(t.Columns) {
			return nil, fmt.Errorf("stream: %s has %d column fields, table %s has %d columns", msg.FullName(), n, t.Name, len(t.Columns))
		}
		for j, c := range t.Columns {
			fd := msg.Fields().Get(j + 2)
			if string(fd.Name()) != c.Name {
				return nil, fmt.Errorf("stream: %s field %d is %s, column %d of %s is %s", msg.FullName(), j+3, fd.Name(), j+1, t.Name, c.Name)
			}
			if want := protoKind(c.Type); fd.Kind() != want || fd.Cardinality() != protoreflect.Optional {
				return nil, fmt.Errorf("stream: %s.%s is %s, column %s.%s (%s) wants %s", msg.FullName(), fd.Name(), fd.Kind(), t.Name, c.Name, c.Type, want)
			}
			if fd.HasPresence() != c.Nullable {
				return nil, fmt.Errorf("stream: %s.%s: optional=%t, but column %s.%s nullable=%t", msg.FullName(), fd.Name(), fd.HasPresence(), t.Name, c.Name, c.Nullable)
			}
			e.cols = append(e.cols, fd)
		}
		out = append(out, e)
	}
	return out, nil
}

func envelope(msg protoreflect.MessageDescriptor) error {
	id, at := msg.Fields().Get(0), msg.Fields().Get(1)
	if id == nil || at == nil || id.Name() != fieldEventID || id.Kind() != protoreflect.StringKind ||
		at.Name() != fieldEventTime || at.Message() == nil || at.Message().FullName() != "google.protobuf.Timestamp" {
		return fmt.Errorf("stream: %s must start with string event_id = 1 and google.protobuf.Timestamp event_time = 2", msg.FullName())
	}
	return nil
}

// protoKind is the field kind of a contract type (see api/nexus/v1).
func protoKind(t olist.Type) protoreflect.Kind {
	switch t {
	case olist.Int:
		return protoreflect.Int32Kind
	case olist.Float:
		return protoreflect.DoubleKind
	default: // String, Money (an exact decimal), Timestamp (local time as written in the files)
		return protoreflect.StringKind
	}
}

// Record is an event as a row of its source table: the fields as the CSV
// files write them, nil for NULL.
type Record struct {
	Entity    *Entity
	EventID   string
	EventTime time.Time
	Values    []*string
}

// Key is the value that orders the entity's events in Kafka: the order for
// everything about an order, else the first column of the table's key.
func (r Record) Key() string {
	for i, c := range r.Entity.Table.Columns {
		if c.Name == "order_id" && r.Values[i] != nil {
			return *r.Values[i]
		}
	}
	if v := r.Values[0]; v != nil {
		return *v
	}
	return r.EventID
}

// Registry finds the entity of an event.
type Registry struct {
	byField map[protoreflect.Name]*Entity
	list    []*Entity
}

// NewRegistry builds the registry from the contracts.
func NewRegistry() (*Registry, error) {
	es, err := Entities()
	if err != nil {
		return nil, err
	}
	r := &Registry{byField: map[protoreflect.Name]*Entity{}}
	for i := range es {
		r.byField[es[i].Field.Name()] = &es[i]
		r.list = append(r.list, &es[i])
	}
	return r, nil
}

// List returns the entities in the order of the Event oneof.
func (r *Registry) List() []*Entity { return r.list }

// ByTable returns the entity of a source table.
func (r *Registry) ByTable(name string) (*Entity, bool) {
	for _, e := range r.list {
		if e.Table.Name == name {
			return e, true
		}
	}
	return nil, false
}

// maxFieldBytes bounds one value of an event (a review comment is a few
// hundred bytes): a record stays far under Kafka's message size.
const maxFieldBytes = 64 << 10

// isMoney reports whether s is an amount that fits DECIMAL(12,2):
// -?[0-9]{1,10}(\.[0-9]{1,2})? (by hand: a regexp costs a tenth of a
// worker's time at 60,000 events/s).
func isMoney(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(d string, lo, hi int) bool {
		if len(d) < lo || len(d) > hi {
			return false
		}
		for i := 0; i < len(d); i++ {
			if d[i] < '0' || d[i] > '9' {
				return false
			}
		}
		return true
	}
	return digits(whole, 1, 10) && (!dot || digits(frac, 1, 2))
}

// FieldError is an event that breaks the contract, with where.
type FieldError struct {
	Index   int    // the event's position in its batch
	EventID string // "" when that is what is missing
	Field   string // entity.field
	Msg     string
}

func (e *FieldError) Error() string {
	id := e.EventID
	if id == "" {
		id = "no event_id"
	}
	return fmt.Sprintf("event %d (%s): %s: %s", e.Index, id, e.Field, e.Msg)
}

// Validate checks an event against the contract (required fields, types,
// allowed values) and returns it as a record. index is its position in the
// batch, for the error.
func (r *Registry) Validate(index int, ev *nexusv1.Event) (Record, error) {
	m := ev.ProtoReflect()
	oneof := m.Descriptor().Oneofs().ByName("entity")
	f := m.WhichOneof(oneof)
	if f == nil {
		return Record{}, &FieldError{Index: index, Field: "event", Msg: "no entity set (one of " + r.names() + ")"}
	}
	e := r.byField[f.Name()]
	msg := m.Get(f).Message()
	rec := Record{Entity: e, EventID: msg.Get(msg.Descriptor().Fields().Get(0)).String()}
	bad := func(field, format string, args ...any) (Record, error) {
		return Record{}, &FieldError{Index: index, EventID: rec.EventID, Field: string(f.Name()) + "." + field, Msg: fmt.Sprintf(format, args...)}
	}
	if rec.EventID == "" {
		return bad(fieldEventID, "required (a client-chosen id, the same on a retry)")
	}
	if len(rec.EventID) > 128 {
		return bad(fieldEventID, "longer than 128 bytes")
	}
	atFD := msg.Descriptor().Fields().Get(1)
	if !msg.Has(atFD) {
		return bad(fieldEventTime, "required")
	}
	at := msg.Get(atFD).Message()
	sec, nanos := at.Get(at.Descriptor().Fields().ByName("seconds")).Int(), at.Get(at.Descriptor().Fields().ByName("nanos")).Int()
	rec.EventTime = time.Unix(sec, nanos).UTC()
	if nanos < 0 || nanos > 999_999_999 || rec.EventTime.Year() < 1970 || rec.EventTime.Year() > 2999 {
		return bad(fieldEventTime, "%s is not a time between 1970 and 2999", rec.EventTime.Format(time.RFC3339))
	}
	rec.Values = make([]*string, len(e.cols))
	vals := make([]string, len(e.cols)) // one allocation for the values rec.Values point to
	for i, fd := range e.cols {
		c := e.Table.Columns[i]
		if c.Nullable && !msg.Has(fd) {
			continue
		}
		v := msg.Get(fd)
		var s string
		switch fd.Kind() {
		case protoreflect.Int32Kind:
			s = strconv.FormatInt(v.Int(), 10)
		case protoreflect.DoubleKind:
			s = strconv.FormatFloat(v.Float(), 'f', -1, 64)
		default:
			s = v.String()
		}
		if s == "" && !c.Nullable {
			return bad(c.Name, "required")
		}
		if len(s) > maxFieldBytes {
			return bad(c.Name, "%d bytes: longer than %d", len(s), maxFieldBytes)
		}
		switch c.Type {
		case olist.Money:
			if !isMoney(s) {
				return bad(c.Name, "%q is not an amount with at most 2 decimals (e.g. \"129.90\")", s)
			}
		case olist.Timestamp:
			if _, err := time.Parse(time.DateTime, s); err != nil {
				return bad(c.Name, "%q is not a local time YYYY-MM-DD HH:MM:SS", s)
			}
		}
		if len(c.Values) > 0 && !slices.Contains(c.Values, s) {
			return bad(c.Name, "%q is not one of %v", s, c.Values)
		}
		vals[i] = s
		rec.Values[i] = &vals[i]
	}
	return rec, nil
}

func (r *Registry) names() string {
	s := ""
	for i, e := range r.list {
		if i > 0 {
			s += ", "
		}
		s += string(e.Field.Name())
	}
	return s
}
