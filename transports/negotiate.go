package transports

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// newID returns 16 random bytes in base64url without padding: 22 URL-safe
// characters, as ASP.NET Core makes connection ids and tokens.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type transportInfo struct {
	Transport       string        `json:"transport"`
	TransferFormats []string      `json:"transferFormats"`
	bit             TransportType // not sent
}

type negotiateReply struct {
	ConnectionID         string          `json:"connectionId"`
	ConnectionToken      string          `json:"connectionToken,omitempty"`
	NegotiateVersion     int             `json:"negotiateVersion"`
	UseStatefulReconnect bool            `json:"useStatefulReconnect,omitempty"`
	AvailableTransports  []transportInfo `json:"availableTransports"`
}

// negotiate answers POST .../negotiate: it makes a connection id (and, from
// version 1, a separate secret token) and lists the transports in the order
// clients should try them.
func (h *Handler) negotiate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plainText(w, http.StatusMethodNotAllowed, "")
		return
	}
	user, _, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	version := 0
	if v := queryValue(r, "negotiateVersion"); hasQuery(r, "negotiateVersion") {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeJSON(w, map[string]string{"error": "The client requested a non-integer protocol version."})
			return
		}
		if n < 0 {
			writeJSON(w, map[string]string{"error": "The client requested version '" + v + "', but the server does not support this version."})
			return
		}
		version = min(n, 1)
	}
	id := newID()
	token := id
	if version >= 1 {
		token = newID()
	}
	// As ASP.NET Core: stateful reconnect only when the client asks for it
	// and the hub allows it; echoing it unasked makes the client fail.
	stateful := strings.EqualFold(queryValue(r, "useStatefulReconnect"), "true") && h.stateful
	h.conns.add(token, &entry{id: id, user: user, created: h.now(), stateful: stateful})
	reply := negotiateReply{ConnectionID: id, NegotiateVersion: version, UseStatefulReconnect: stateful, AvailableTransports: h.available}
	if version >= 1 {
		reply.ConnectionToken = token
	}
	writeJSON(w, reply)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		plainText(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
