package quality

import (
	"encoding/json"
	"time"
)

// UnmarshalJSON reads a Result in its snake_case form and, for run records
// written before it had JSON names, in the Go field names (CheckID,
// RowsFailed, ...), so the quality report's trend keeps older runs.
func (r *Result) UnmarshalJSON(b []byte) error {
	type plain Result // no methods: no recursion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.CheckID == "" {
		var legacy struct {
			Table, CheckID, Description, File string
			Kind                              Kind
			Severity                          Severity
			OnFail                            OnFail
			Line                              int
			RowsChecked, RowsFailed           int64
			Verdict                           Verdict
			Blocking                          bool
			Observed                          string
			Examples                          []struct {
				Key    map[string]string
				Reason string
			}
			Duration time.Duration
		}
		if err := json.Unmarshal(b, &legacy); err == nil && legacy.CheckID != "" {
			p = plain{Table: legacy.Table, CheckID: legacy.CheckID, Kind: legacy.Kind, Description: legacy.Description,
				Severity: legacy.Severity, OnFail: legacy.OnFail, File: legacy.File, Line: legacy.Line,
				RowsChecked: legacy.RowsChecked, RowsFailed: legacy.RowsFailed, Verdict: legacy.Verdict,
				Blocking: legacy.Blocking, Observed: legacy.Observed, Duration: legacy.Duration}
			for _, e := range legacy.Examples {
				p.Examples = append(p.Examples, Example{Key: e.Key, Reason: e.Reason})
			}
		}
	}
	*r = Result(p)
	return nil
}
