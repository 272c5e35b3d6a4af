package report

import (
	"math"
	"strconv"
	"strings"
)

// FormatInt writes n with comma thousands separators: 1234567 → "1,234,567".
func FormatInt(n int64) string {
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	s := strconv.FormatUint(u, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	pre := len(s) % 3
	if pre == 0 {
		pre = 3
	}
	b.WriteString(s[:pre])
	for i := pre; i < len(s); i += 3 {
		b.WriteByte(',')
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// FormatNumber writes v rounded to decimals places with thousands
// separators: FormatNumber(1234.567, 2) → "1,234.57".
func FormatNumber(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', decimals, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseUint(intPart, 10, 64)
	out := FormatInt(int64(n))
	if frac != "" {
		out += "." + frac
	}
	if v < 0 && strings.Trim(s, "0.") != "" {
		out = "-" + out
	}
	return out
}

// FormatBRL writes an amount in reais, rounded to the real, with thousands
// separators: 1234567.4 → "R$ 1,234,567"; negative amounts as "-R$ 12".
func FormatBRL(v float64) string {
	s := FormatNumber(v, 0)
	if strings.HasPrefix(s, "-") {
		return "-R$ " + s[1:]
	}
	return "R$ " + s
}

// FormatBRLCents writes an amount in reais with cents: "R$ 1,234.50".
func FormatBRLCents(v float64) string {
	s := FormatNumber(v, 2)
	if strings.HasPrefix(s, "-") {
		return "-R$ " + s[1:]
	}
	return "R$ " + s
}

// FormatUSD writes a US dollar amount with cents: "US$ 1,234.50".
func FormatUSD(v float64) string {
	s := FormatNumber(v, 2)
	if strings.HasPrefix(s, "-") {
		return "-US$ " + s[1:]
	}
	return "US$ " + s
}

// FormatBRLShort writes a compact amount for tight spaces (map tiles, axis
// ticks): "R$ 950", "R$ 12.5k", "R$ 1.23M", "R$ 2.1B".
func FormatBRLShort(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return sign + "R$ " + shortNumber(v)
}

func shortNumber(v float64) string {
	unit := ""
	switch {
	case v >= 1e9:
		v, unit = v/1e9, "B"
	case v >= 1e6:
		v, unit = v/1e6, "M"
	case v >= 1e3:
		v, unit = v/1e3, "k"
	default:
		return FormatNumber(v, 0)
	}
	dec := 2
	if v >= 100 {
		dec = 0
	} else if v >= 10 {
		dec = 1
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit
}

// FormatPct writes a 0..1 share as a percentage with the given decimals:
// FormatPct(0.1234, 1) → "12.3%".
func FormatPct(v float64, decimals int) string {
	return FormatNumber(v*100, decimals) + "%"
}

// FormatBytes writes a byte size in binary units: "1.5 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return FormatInt(n) + " B"
	}
	v, exp := float64(n), 0
	for v >= unit && exp < 5 {
		v /= unit
		exp++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + []string{"", "KiB", "MiB", "GiB", "TiB", "PiB"}[exp]
}
