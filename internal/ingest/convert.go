package ingest

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// The parsers below are written by hand because they run once per field of
// 1.5 M rows: they accept exactly the source contract's formats and say
// precisely what is wrong otherwise.

// parseMoney parses a decimal with at most two fraction digits into cents.
// More digits would be rounded by DECIMAL(12,2), silently changing the data,
// so they are rejected.
func parseMoney(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("empty number")
	}
	neg := false
	i := 0
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var v int64
	digits, frac := 0, -1
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			v = v*10 + int64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return 0, fmt.Errorf("%q is not a decimal number", b)
		}
		if digits > 12 {
			return 0, fmt.Errorf("%q does not fit DECIMAL(12,2)", b)
		}
	}
	if digits == 0 {
		return 0, fmt.Errorf("%q is not a decimal number", b)
	}
	if frac > 2 {
		return 0, fmt.Errorf("%q has more than 2 decimals", b)
	}
	if frac < 0 {
		frac = 0
	}
	for ; frac < 2; frac++ {
		v *= 10
	}
	if v >= 1e12 {
		return 0, fmt.Errorf("%q does not fit DECIMAL(12,2)", b)
	}
	if neg {
		v = -v
	}
	return v, nil
}

func parseInt32(b []byte) (int32, error) {
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%q is out of range for INTEGER", b)
		}
		return 0, fmt.Errorf("%q is not an integer", b)
	}
	return int32(n), nil
}

func parseFloat(b []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a finite number", b)
	}
	return f, nil
}

// parseTimestamp parses `YYYY-MM-DD HH:MM:SS` as a wall-clock time and returns
// microseconds since 1970-01-01 00:00:00 of that wall clock. No zone is
// applied: Bronze keeps the source's local time; a local time that did not
// exist in Brazil (DST gap) is still a valid wall-clock value here.
func parseTimestamp(b []byte) (int64, error) {
	if len(b) != 19 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return 0, fmt.Errorf("%q is not a timestamp (want YYYY-MM-DD HH:MM:SS)", b)
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d := num(b[0:4]), num(b[5:7]), num(b[8:10])
	h, mi, s := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 {
		return 0, fmt.Errorf("%q is not a valid timestamp", b)
	}
	if d > daysIn(y, mo) {
		return 0, fmt.Errorf("%q is not a valid date", b)
	}
	days := daysFromCivil(y, mo, d)
	return ((days*24+int64(h))*60+int64(mi))*60*1e6 + int64(s)*1e6, nil
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is Howard Hinnant's days_from_civil: days since 1970-01-01.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// checkUTF8 returns an error naming the byte offset of the first invalid byte.
func checkUTF8(b []byte) error {
	if utf8.Valid(b) {
		return nil
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("invalid UTF-8 byte 0x%02x at offset %d", b[i], i)
		}
		i += n
	}
	return fmt.Errorf("invalid UTF-8")
}
