package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// The pages' files, built into the binary: the demo chat page (/), the
// dashboard (/dashboard), their scripts and styles, and the official
// SignalR browser client (web/vendor, see its NOTICE.md).
//
//go:embed web/*.html web/*.js web/*.css web/*.svg web/vendor/*.min.js web/vendor/*.txt web/vendor/NOTICE.md
var webFiles embed.FS

// asset is one embedded file, ready to serve: its gzip form and ETag are
// made once, at start-up.
type asset struct {
	body  []byte
	gz    []byte // nil when compressing does not pay
	ctype string
	etag  string
}

// site serves the embedded files.
type site struct {
	files map[string]*asset // by path under web/, e.g. "index.html", "vendor/signalr.min.js"
}

func newSite() (*site, error) {
	s := &site{files: map[string]*asset{}}
	err := fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := webFiles.ReadFile(p)
		if err != nil {
			return err
		}
		a := &asset{body: body, ctype: contentType(p)}
		sum := sha256.Sum256(body)
		a.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		if len(body) > 1024 {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			_, _ = zw.Write(body)
			_ = zw.Close()
			if b.Len() < len(body)*9/10 {
				a.gz = b.Bytes()
			}
		}
		s.files[strings.TrimPrefix(p, "web/")] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded pages: %w", err)
	}
	return s, nil
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".md", ".txt":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// pageHeaders are sent with every HTML page: the pages load only their own
// files and talk only to their own origin.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// serve answers with the embedded file name (a path under web/).
func (s *site) serve(w http.ResponseWriter, r *http.Request, name string) {
	a := s.files[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache") // revalidate: cheap with the ETag, and never stale after an upgrade
	h.Set("ETag", a.etag)
	h.Add("Vary", "Accept-Encoding")
	if strings.HasSuffix(name, ".html") {
		pageHeaders(h)
	}
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		body = a.gz
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func etagMatches(header, etag string) bool {
	for v := range strings.SplitSeq(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for v := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(v), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}

// page serves one embedded file at a fixed path.
func (s *site) page(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, name) })
}

// static serves /static/<name> from web/<name>; pages are served at their
// own paths only.
func (s *site) static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if strings.HasSuffix(name, ".html") {
			http.NotFound(w, r)
			return
		}
		s.serve(w, r, name)
	})
}

// mountPages serves the chat page at / and the files the pages load at
// /static/ on mux.
func (s *site) mountPages(mux *http.ServeMux) {
	mux.Handle("GET /{$}", s.page("index.html"))
	mux.Handle("GET /static/", s.static())
}
