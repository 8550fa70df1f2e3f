package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/service"
)

// upstreamHub is one -upstream-hub: a hub with no Go code whose clients'
// events and invocations go to an HTTP backend.
type upstreamHub struct{ name, template string }

// upstreamHubs is the -upstream-hub flag: NAME=URLTEMPLATE, repeatable; one
// value (as from ACTORHUB_UPSTREAM_HUB) may hold several, separated by
// white space.
type upstreamHubs []upstreamHub

func (u *upstreamHubs) String() string {
	var parts []string
	for _, h := range *u {
		parts = append(parts, h.name+"="+h.template)
	}
	return strings.Join(parts, " ")
}

func (u *upstreamHubs) Set(v string) error {
	for _, item := range strings.Fields(v) {
		name, tmpl, ok := strings.Cut(item, "=")
		if !ok || !service.ValidHubName(name) || tmpl == "" {
			return fmt.Errorf("want NAME=URLTEMPLATE (NAME a letter, then letters, digits, '_', '-' or '.'), got %q", item)
		}
		for _, h := range *u {
			if strings.EqualFold(h.name, name) {
				return fmt.Errorf("hub %q given twice", name)
			}
		}
		*u = append(*u, upstreamHub{name, tmpl})
	}
	return nil
}

// serviceSetup is what -access-key turns on: the REST API at /api/ and the
// client endpoint at /client/ for every hub.
type serviceSetup struct {
	key     *service.AccessKey
	api     *service.API
	clients *service.ClientRouter
}

// newServiceSetup returns nil without an access key.
func newServiceSetup(o *options, log *slog.Logger) (*serviceSetup, error) {
	if o.accessKey == "" {
		return nil, nil
	}
	key, err := service.ParseAccessKeys(o.accessKey)
	if err != nil {
		return nil, fmt.Errorf("-access-key: %w", err)
	}
	api, err := service.NewAPI(service.Config{Key: key, Logger: log})
	if err != nil {
		return nil, err
	}
	return &serviceSetup{key: key, api: api, clients: service.NewClientRouter()}, nil
}

// add serves hub h, mounted at /hubs/<name>, through the REST API, and at
// /client/?hub=<name> with clientHandler: the hub's transports.Handler made
// with the access key's ClientAuthenticator (and no RequireAuthentication:
// every request needs a good token, which may name no user).
func (s *serviceSetup) add(name string, h *hub.Hub, clientHandler http.Handler) error {
	if err := s.api.AddHub(name, h); err != nil {
		return err
	}
	s.clients.Add(name, clientHandler)
	return nil
}

func (s *serviceSetup) mount(mux *http.ServeMux) {
	s.api.Mount(mux)
	s.clients.Mount(mux)
}

// newUpstream makes the Upstream of an -upstream-hub.
func newUpstream(o *options, u upstreamHub, s *serviceSetup, log *slog.Logger) (*service.Upstream, error) {
	cfg := service.UpstreamConfig{URLTemplate: u.template, Hub: u.name, DetailedErrors: o.detailedErrors, Logger: log}
	if s != nil {
		cfg.Key = s.key
	} else {
		log.Warn("-upstream-hub without -access-key: upstream requests carry no X-ASRS-Signature", "hub", u.name)
	}
	up, err := service.NewUpstream(cfg)
	if err != nil {
		return nil, fmt.Errorf("-upstream-hub %s: %w", u.name, err)
	}
	return up, nil
}

// closeUpstream delivers what an upstream hub still has queued (its
// clients' disconnected events) within ctx.
func closeUpstream(ctx context.Context, up *service.Upstream, name string, log *slog.Logger) {
	if err := up.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn("upstream requests left undelivered at shutdown", "hub", name, "err", err)
	}
}
