// Package gluetest is a Glue API endpoint for tests: it speaks Glue's
// protocol and checks each request against the shapes AWS documents.
package gluetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Fake speaks Glue's protocol (JSON 1.1 over POST, the operation in
// X-Amz-Target, errors as {"__type": …}) and checks each request against
// the shapes AWS documents for it (required members, lengths, patterns):
// a request Glue would refuse is refused here with Glue's
// InvalidInputException and the reason, and the test fails.
type Fake struct {
	t   *testing.T
	mu  sync.Mutex
	dbs map[string]bool
	// Tables are the tables created, by database.table, as their
	// TableInput; Calls the operations asked, in order.
	Tables map[string]map[string]any
	Calls  []string
}

// Start runs the endpoint until the test ends; it returns it and its URL.
func Start(t *testing.T) (*Fake, string) {
	f := &Fake{t: t, dbs: map[string]bool{}, Tables: map[string]map[string]any{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// Glue's documented constraints (API reference: CreateTable, TableInput,
// StorageDescriptor, Column, DatabaseInput).
var singleLine = regexp.MustCompile(`^[\x{0020}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}\t]*$`)

// ServeHTTP answers one Glue request.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
	fail := func(kind, msg string) {
		f.t.Errorf("glue %s refused: %s: %s", op, kind, msg)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":%q,"Message":%q}`, kind, msg)
	}
	notFound := func(msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"EntityNotFoundException","Message":%q}`, msg)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		fail("InvalidInputException", "want POST application/x-amz-json-1.1")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		fail("AccessDeniedException", "request not signed with SigV4")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		fail("InvalidInputException", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, op)
	str := func(m map[string]any, key string, min, max int, required bool) (string, bool) {
		v, ok := m[key]
		if !ok {
			if required {
				fail("InvalidInputException", fmt.Sprintf("%s: %s is required", op, key))
				return "", false
			}
			return "", true
		}
		s, isStr := v.(string)
		if !isStr || len([]rune(s)) < min || len([]rune(s)) > max || !singleLine.MatchString(s) && key != "Description" {
			fail("InvalidInputException", fmt.Sprintf("%s: %s %q: want a string of %d to %d characters", op, key, v, min, max))
			return "", false
		}
		return s, true
	}
	table := func(ti map[string]any) bool {
		if _, ok := str(ti, "Name", 1, 255, true); !ok {
			return false
		}
		if _, ok := str(ti, "Description", 0, 2048, false); !ok {
			return false
		}
		if _, ok := str(ti, "TableType", 0, 255, false); !ok {
			return false
		}
		columns := func(list any) bool {
			cols, _ := list.([]any)
			for _, c := range cols {
				cm, _ := c.(map[string]any)
				if _, ok := str(cm, "Name", 1, 255, true); !ok {
					return false
				}
				if _, ok := str(cm, "Type", 0, 131072, false); !ok {
					return false
				}
				if _, ok := str(cm, "Comment", 0, 255, false); !ok {
					return false
				}
			}
			return true
		}
		sd, _ := ti["StorageDescriptor"].(map[string]any)
		if sd == nil || !columns(sd["Columns"]) || !columns(ti["PartitionKeys"]) {
			if sd == nil {
				fail("InvalidInputException", "StorageDescriptor is required for an external table")
			}
			return false
		}
		for _, k := range []string{"Location", "InputFormat", "OutputFormat"} {
			if _, ok := str(sd, k, 0, 2056, false); !ok {
				return false
			}
		}
		params, _ := ti["Parameters"].(map[string]any)
		for k, v := range params {
			s, _ := v.(string)
			if len(k) < 1 || len(k) > 255 || len(s) > 512000 {
				fail("InvalidInputException", "parameter "+k+" out of bounds")
				return false
			}
		}
		return true
	}
	switch op {
	case "GetDatabase":
		name, ok := str(req, "Name", 1, 255, true)
		if !ok {
			return
		}
		if !f.dbs[name] {
			notFound("Database " + name + " not found.")
			return
		}
		fmt.Fprintf(w, `{"Database":{"Name":%q}}`, name)
	case "CreateDatabase":
		di, _ := req["DatabaseInput"].(map[string]any)
		name, ok := str(di, "Name", 1, 255, true)
		if !ok {
			return
		}
		f.dbs[name] = true
		fmt.Fprint(w, `{}`)
	case "GetTable":
		db, ok1 := str(req, "DatabaseName", 1, 255, true)
		name, ok2 := str(req, "Name", 1, 255, true)
		if !ok1 || !ok2 {
			return
		}
		ti, found := f.Tables[db+"."+name]
		if !found {
			notFound("Table " + name + " not found.")
			return
		}
		b, _ := json.Marshal(map[string]any{"Table": ti})
		w.Write(b)
	case "CreateTable", "UpdateTable":
		db, ok := str(req, "DatabaseName", 1, 255, true)
		if !ok {
			return
		}
		ti, _ := req["TableInput"].(map[string]any)
		if ti == nil {
			fail("InvalidInputException", "TableInput is required")
			return
		}
		if !table(ti) {
			return
		}
		if !f.dbs[db] {
			notFound("Database " + db + " not found.")
			return
		}
		key := db + "." + ti["Name"].(string)
		if _, exists := f.Tables[key]; exists == (op == "CreateTable") {
			if op == "CreateTable" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"__type":"AlreadyExistsException","Message":"Table already exists."}`)
				return
			}
			notFound("Table not found.")
			return
		}
		f.Tables[key] = ti
		fmt.Fprint(w, `{}`)
	default:
		fail("InvalidInputException", "operation "+op+" not expected")
	}
}
