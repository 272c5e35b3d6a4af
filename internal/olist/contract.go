package olist

import (
	"fmt"
	"strings"
)

// Type is the logical type of a source column. It decides how the ingest
// parser validates a field, which Parquet type Bronze stores it as, and how the
// generator formats it.
type Type int

const (
	// String holds ids, zip prefixes, names and free text. Ids and zip prefixes
	// are strings on purpose: they have leading zeros.
	String Type = iota
	// Int is a whole number (INTEGER; counts, lengths, grams, centimetres).
	Int
	// Money is DECIMAL(12,2): sums must match to the cent.
	Money
	// Float is a DOUBLE (latitude, longitude).
	Float
	// Timestamp is `YYYY-MM-DD HH:MM:SS` in Brazilian local time with no zone.
	// Bronze keeps it as a local timestamp; Silver converts it to UTC.
	Timestamp
)

// SQL returns the DuckDB type used for the column.
func (t Type) SQL() string {
	switch t {
	case Int:
		return "INTEGER"
	case Money:
		return "DECIMAL(12,2)"
	case Float:
		return "DOUBLE"
	case Timestamp:
		return "TIMESTAMP"
	default:
		return "VARCHAR"
	}
}

func (t Type) String() string {
	switch t {
	case Int:
		return "int"
	case Money:
		return "money"
	case Float:
		return "float"
	case Timestamp:
		return "timestamp"
	default:
		return "string"
	}
}

// Quoting says how the original files quote a column's values; the generator
// reproduces it so the parser is tested against the real shape.
type Quoting int

const (
	// QuoteAsNeeded quotes a value when it contains a delimiter, quote or line
	// break, or when it starts with a digit (ids, zips): the original export's rule.
	QuoteAsNeeded Quoting = iota
	// QuoteAlways quotes every non-empty value (review ids and order ids in reviews).
	QuoteAlways
	// QuoteNever is for numbers and timestamps, which are never quoted.
	QuoteNever
)

// Column is one column of a source file.
type Column struct {
	Name     string   // canonical name, used in Bronze and beyond
	Aliases  []string // other header spellings accepted on input
	Type     Type
	Nullable bool
	Quoting  Quoting
	// Promise marks a timestamp set when the record is made about a later
	// moment (an estimate, a deadline), not the time of an event: a daily
	// drop may show it before that moment comes.
	Promise bool
	// Values, when set, is the closed set of values the column may hold;
	// the stream's edge rejects any other (a file's row is typed, not
	// judged, in Bronze: the Silver suites flag or quarantine it).
	Values []string
	Doc    string
}

// Table is one of the nine Olist source files.
type Table struct {
	Name    string   // Bronze table name, e.g. "orders"
	File    string   // original file name
	Key     []string // primary key, empty when the source has none
	Columns []Column
	// CRLF and BOM describe the original file's line endings and byte order mark.
	CRLF bool
	BOM  bool
	// QuoteHeader is false only for the translation file, whose header is bare.
	QuoteHeader bool
	// FinalNewline is false for the translation file, which ends without one.
	FinalNewline bool
	Doc          string
}

// Column returns the column with the given canonical name.
func (t Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ColumnNames returns the canonical column names in file order.
func (t Table) ColumnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

func id(name, doc string) Column {
	return Column{Name: name, Type: String, Quoting: QuoteAsNeeded, Doc: doc}
}

func str(name string, nullable bool, doc string) Column {
	return Column{Name: name, Type: String, Nullable: nullable, Quoting: QuoteAsNeeded, Doc: doc}
}

func ts(name string, nullable bool, doc string) Column {
	return Column{Name: name, Type: Timestamp, Nullable: nullable, Quoting: QuoteNever, Doc: doc}
}

// promise is a Timestamp column that holds a promised date, not an event.
func promise(name, doc string) Column {
	c := ts(name, false, doc)
	c.Promise = true
	return c
}

// enum is a required string column with a closed set of values, listed in
// its doc.
func enum(name, doc string, values ...string) Column {
	return withValues(str(name, false, doc+" One of: "+strings.Join(values, ", ")+"."), values...)
}

func withValues(c Column, values ...string) Column {
	c.Values = values
	return c
}

func num(name string, t Type, nullable bool, doc string) Column {
	return Column{Name: name, Type: t, Nullable: nullable, Quoting: QuoteNever, Doc: doc}
}

// Tables is the source contract: the nine files in the order they are usually
// listed. It is the single definition that drives the generator, the ingest
// parser, the Bronze Parquet schema and the docs.
func Tables() []Table {
	return []Table{
		{
			Name: "orders", File: "olist_orders_dataset.csv", Key: []string{"order_id"},
			QuoteHeader: true, FinalNewline: true,
			Doc: "One row per order, with its status and lifecycle timestamps (Brazilian local time).",
			Columns: []Column{
				id("order_id", "Order id (32 hex chars)."),
				id("customer_id", "Customer id; one per order (the person is customer_unique_id)."),
				enum("order_status", "The order's state.", "delivered", "shipped", "canceled", "unavailable", "invoiced", "processing", "created", "approved"),
				ts("order_purchase_timestamp", false, "When the order was placed."),
				ts("order_approved_at", true, "When the payment was approved."),
				ts("order_delivered_carrier_date", true, "When the seller handed the order to the carrier."),
				ts("order_delivered_customer_date", true, "When the customer received the order."),
				promise("order_estimated_delivery_date", "Delivery date promised at purchase (midnight)."),
			},
		},
		{
			Name: "customers", File: "olist_customers_dataset.csv", Key: []string{"customer_id"},
			QuoteHeader: true, FinalNewline: true,
			Doc: "One row per customer_id (that is, per order); customer_unique_id identifies the person.",
			Columns: []Column{
				id("customer_id", "Customer id, one per order."),
				id("customer_unique_id", "The person; repeats for repeat buyers."),
				str("customer_zip_code_prefix", false, "First 5 digits of the zip code, leading zeros kept."),
				str("customer_city", false, "City, lower case, usually without accents."),
				str("customer_state", false, "Two-letter state (UF)."),
			},
		},
		{
			Name: "order_items", File: "olist_order_items_dataset.csv", Key: []string{"order_id", "order_item_id"},
			QuoteHeader: true, FinalNewline: true,
			Doc: "One row per unit sold: k units of a product are k rows.",
			Columns: []Column{
				id("order_id", "Order id."),
				num("order_item_id", Int, false, "Sequence of the item within the order, from 1."),
				id("product_id", "Product id."),
				id("seller_id", "Seller id."),
				promise("shipping_limit_date", "Deadline for the seller to hand the item to the carrier."),
				num("price", Money, false, "Item price in R$."),
				num("freight_value", Money, false, "Freight for the item in R$."),
			},
		},
		{
			Name: "order_payments", File: "olist_order_payments_dataset.csv", Key: []string{"order_id", "payment_sequential"},
			QuoteHeader: true, FinalNewline: true,
			Doc: "One row per payment of an order; vouchers make several per order.",
			Columns: []Column{
				id("order_id", "Order id."),
				num("payment_sequential", Int, false, "Sequence of the payment within the order."),
				enum("payment_type", "How it was paid.", "credit_card", "boleto", "voucher", "debit_card", "not_defined"),
				num("payment_installments", Int, false, "Number of installments (0 occurs)."),
				num("payment_value", Money, false, "Amount paid in R$."),
			},
		},
		{
			Name: "order_reviews", File: "olist_order_reviews_dataset.csv", CRLF: true,
			QuoteHeader: true, FinalNewline: true,
			Doc: "Customer reviews. No key: review_id repeats across orders and an order can have several reviews.",
			Columns: []Column{
				{Name: "review_id", Type: String, Quoting: QuoteAlways, Doc: "Review id; not unique."},
				{Name: "order_id", Type: String, Quoting: QuoteAlways, Doc: "Order id."},
				withValues(num("review_score", Int, false, "1 to 5 stars."), "1", "2", "3", "4", "5"),
				str("review_comment_title", true, "Optional title."),
				str("review_comment_message", true, "Optional comment; may span lines (CRLF inside quotes)."),
				ts("review_creation_date", false, "When the survey was sent (midnight, or 01:00 on a DST-start day)."),
				ts("review_answer_timestamp", false, "When the customer answered."),
			},
		},
		{
			Name: "products", File: "olist_products_dataset.csv", Key: []string{"product_id"},
			QuoteHeader: true, FinalNewline: true,
			Doc: "One row per product.",
			Columns: []Column{
				id("product_id", "Product id."),
				str("product_category_name", true, "Category in Portuguese; empty for some hundreds of products."),
				{Name: "product_name_length", Aliases: []string{"product_name_lenght"}, Type: Int, Nullable: true, Quoting: QuoteNever, Doc: "Characters in the product name (header says 'lenght')."},
				{Name: "product_description_length", Aliases: []string{"product_description_lenght"}, Type: Int, Nullable: true, Quoting: QuoteNever, Doc: "Characters in the description (header says 'lenght')."},
				num("product_photos_qty", Int, true, "Number of photos."),
				num("product_weight_g", Int, true, "Weight in grams (0 occurs)."),
				num("product_length_cm", Int, true, "Length in cm."),
				num("product_height_cm", Int, true, "Height in cm."),
				num("product_width_cm", Int, true, "Width in cm."),
			},
		},
		{
			Name: "sellers", File: "olist_sellers_dataset.csv", Key: []string{"seller_id"},
			QuoteHeader: true, FinalNewline: true,
			Doc: "One row per seller.",
			Columns: []Column{
				id("seller_id", "Seller id."),
				str("seller_zip_code_prefix", false, "First 5 digits of the zip code, leading zeros kept."),
				str("seller_city", false, "City as typed by the seller (dirty)."),
				str("seller_state", false, "Two-letter state (UF)."),
			},
		},
		{
			Name: "geolocation", File: "olist_geolocation_dataset.csv",
			QuoteHeader: true, FinalNewline: true,
			Doc: "Points per zip prefix. No key: many points per prefix and exact duplicates.",
			Columns: []Column{
				str("geolocation_zip_code_prefix", false, "Zip prefix, leading zeros kept."),
				num("geolocation_lat", Float, false, "Latitude."),
				num("geolocation_lng", Float, false, "Longitude."),
				str("geolocation_city", false, "City, with accent variants."),
				str("geolocation_state", false, "Two-letter state (UF)."),
			},
		},
		{
			Name: "category_translation", File: "product_category_name_translation.csv", Key: []string{"product_category_name"},
			CRLF: true, BOM: true, QuoteHeader: false, FinalNewline: false,
			Doc: "Portuguese category name to English. Two categories used by products are missing.",
			Columns: []Column{
				str("product_category_name", false, "Category in Portuguese."),
				str("product_category_name_english", false, "Category in English."),
			},
		},
	}
}

// Lookup returns the table with the given Bronze name.
func Lookup(name string) (Table, error) {
	for _, t := range Tables() {
		if t.Name == name {
			return t, nil
		}
	}
	return Table{}, fmt.Errorf("unknown source table %q", name)
}
