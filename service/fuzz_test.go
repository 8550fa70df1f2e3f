package service_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/service"
)

// FuzzREST: no request makes the API panic or answer outside its statuses.
// Every request carries a good token for its own URL, so the fuzzer gets
// past authentication into routing, validation and the body.
func FuzzREST(f *testing.F) {
	key, err := service.NewAccessKey(testKey)
	if err != nil {
		f.Fatal(err)
	}
	h, err := hub.New(chat{}, hub.Config{MaxUserGroups: 1000})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	api, err := service.NewAPI(service.Config{Key: key, MaxBodyBytes: 4096})
	if err != nil {
		f.Fatal(err)
	}
	if err := api.AddHub("chat", h); err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct {
		method      uint8
		path, query string
		body        []byte
	}{
		{1, "/api/hubs/chat/:send", "api-version=2022-06-01", []byte(`{"target":"m","arguments":[1,"x",{"a":null}]}`)},
		{1, "/api/hubs/chat/groups/g/:send", "api-version=2022-06-01&excluded=a&excluded=b", []byte(`{"target":"m"}`)},
		{2, "/api/hubs/chat/users/u/groups/g", "api-version=2022-06-01&ttl=5", nil},
		{3, "/api/hubs/chat/connections/c/groups", "api-version=2024-12-01", nil},
		{0, "/api/hubs/chat/users/u%2Fv", "api-version=2022-06-01", nil},
		{1, "/api/hubs/chat/:closeConnections", "api-version=2022-06-01&reason=r", nil},
		{4, "/api/health", "", nil},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.body)
	}
	methods := []string{http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodGet, "PATCH"}
	ok := map[int]bool{200: true, 202: true, 204: true, 400: true, 401: true, 404: true, 405: true, 413: true}
	f.Fuzz(func(t *testing.T, m uint8, path, query string, body []byte) {
		u := &url.URL{Scheme: "http", Host: "example.com", Path: path, RawQuery: query}
		req, err := http.NewRequest(methods[int(m)%len(methods)], u.String(), bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.Path, "/api/") {
			return
		}
		token, err := key.Token("http://example.com"+req.URL.Path, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req.WithContext(ctx))
		if !ok[rec.Code] {
			t.Fatalf("%s %s?%s: status %d: %s", req.Method, path, query, rec.Code, rec.Body)
		}
	})
}
