package ingest

import (
	"testing"
	"time"
)

func TestParseMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"58.90", 5890, false},
		{"0.00", 0, false},
		{"13.29", 1329, false},
		{"7", 700, false},
		{"7.5", 750, false},
		{"-1.25", -125, false},
		{"6735.00", 673500, false},
		{"9999999999.99", 999999999999, false},
		{"10000000000.00", 0, true}, // over DECIMAL(12,2)
		{"1.005", 0, true},          // would be rounded
		{"1,50", 0, true},           // Brazilian decimal comma is not the contract
		{"abc", 0, true},
		{".", 0, true},
		{"1.2.3", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		got, err := parseMoney([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseMoney(%q) = %d, %v; want %d, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"2017-10-02 10:56:33", false},
		{"2017-10-15 00:30:00", false}, // in Brazil's DST gap: still a valid wall clock in Bronze
		{"2016-02-29 23:59:59", false},
		{"2017-02-29 10:00:00", true},
		{"2017-13-01 10:00:00", true},
		{"2017-10-02T10:56:33", true},
		{"2017-10-02 24:00:00", true},
		{"2017-10-02", true},
		{"02/10/2017 10:56:33", true},
	}
	for _, tc := range tests {
		got, err := parseTimestamp([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseTimestamp(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil {
			want, err := time.Parse(time.DateTime, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != want.UnixMicro() {
				t.Errorf("parseTimestamp(%q) = %d, want %d", tc.in, got, want.UnixMicro())
			}
		}
	}
}

func TestParseNumbers(t *testing.T) {
	t.Parallel()
	if v, err := parseInt32([]byte("21")); err != nil || v != 21 {
		t.Errorf("parseInt32(21) = %d, %v", v, err)
	}
	for _, bad := range []string{"1.0", "x", "99999999999"} {
		if _, err := parseInt32([]byte(bad)); err == nil {
			t.Errorf("parseInt32(%q) accepted", bad)
		}
	}
	if v, err := parseFloat([]byte("-23.54562128115268")); err != nil || v != -23.54562128115268 {
		t.Errorf("parseFloat = %v, %v", v, err)
	}
	for _, bad := range []string{"NaN", "Inf", "-23,5", ""} {
		if _, err := parseFloat([]byte(bad)); err == nil {
			t.Errorf("parseFloat(%q) accepted", bad)
		}
	}
	if err := checkUTF8([]byte("s\xe3o paulo")); err == nil {
		t.Error("latin-1 byte accepted as UTF-8")
	}
}
