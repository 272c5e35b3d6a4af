package server

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/keystone/nexus/internal/docsite"
)

// docsPath serves the documentation site of the lake's current snapshot
// (what `nexus docs` writes), generated on the first request of each
// version of the lake and kept until the next.
const docsPath = "/docs/"

// docsCache holds the site of one lake version.
type docsCache struct {
	mu      sync.Mutex // held while a site is generated: one generation at a time
	version int64
	files   docsite.Files
}

// docsCSP lets the site's pages load its own stylesheet and scripts only.
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, docsPath)
	if name == "" {
		name = "index.html"
	}
	st := s.current(r.Context())
	files, err := s.docsOf(r.Context(), st)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		s.log.Error("docs", "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "docs: "+s.redact(err.Error()))
		return
	}
	b, ok := files[name]
	if !ok {
		writeError(w, http.StatusNotFound, "", "not found: "+clip(r.URL.Path))
		return
	}
	w.Header().Set("Content-Type", docsite.ContentType(name))
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", docsCSP)
	_, _ = w.Write(b)
}

// docsOf returns the site of the state's version, generating it when the
// version is new. The generation reads one snapshot whole (no refresh of
// the engine's views meanwhile) and outlives the request that started it:
// the others wait for the same site.
func (s *Server) docsOf(ctx context.Context, st *state) (docsite.Files, error) {
	s.docsCache.mu.Lock()
	defer s.docsCache.mu.Unlock()
	if s.docsCache.files != nil && s.docsCache.version == st.version {
		return s.docsCache.files, nil
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	defer cancel()
	s.rw.RLock()
	files, err := docsite.Generate(gctx, s.eng.Lake(), s.eng, docsite.Config{Name: lakeName(s.lk)})
	s.rw.RUnlock()
	if err != nil {
		return nil, err
	}
	s.docsCache.version, s.docsCache.files = st.version, files
	return files, nil
}
