// Package olist owns the source contract of the Olist e-commerce data set —
// the nine files, their columns, types, keys and formatting — and the
// synthetic generator that writes faithful data sets at any scale from it.
package olist
