package transports_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actorhub/actorhub/hub"
	"github.com/actorhub/actorhub/transports"
	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// rsaKeys are two RSA key pairs, made once for the package's tests.
var rsaKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

func publicPEM(t testing.TB, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign makes a token of claims with method and key.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are good claims for user, valid for an hour, with extra added.
func claims(user string, extra ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i].(string)] = extra[i+1]
	}
	return c
}

func newJWT(t testing.TB, cfg transports.JWTConfig) transports.ClaimsAuthenticator {
	t.Helper()
	a, err := transports.NewJWTAuthenticator(cfg)
	if err != nil {
		t.Fatalf("NewJWTAuthenticator: %v", err)
	}
	return a.(transports.ClaimsAuthenticator)
}

func TestJWTAccepts(t *testing.T) {
	ks := rsaKeys()
	both := transports.JWTConfig{Secret: secret, PublicKeys: [][]byte{publicPEM(t, ks[0]), publicPEM(t, ks[1])}}
	past := time.Now().Add(-time.Minute).Unix()
	for _, tc := range []struct {
		name  string
		cfg   transports.JWTConfig
		token string
		user  string
	}{
		{"HS256", transports.JWTConfig{Secret: secret}, sign(t, jwt.SigningMethodHS256, secret, claims("alice")), "alice"},
		{"RS256", both, sign(t, jwt.SigningMethodRS256, ks[0], claims("bob")), "bob"},
		{"RS256 second key", both, sign(t, jwt.SigningMethodRS256, ks[1], claims("carol")), "carol"},
		{"HS256 beside RSA keys", both, sign(t, jwt.SigningMethodHS256, secret, claims("dave")), "dave"},
		{"HS512 when configured", transports.JWTConfig{Secret: secret, Algorithms: []string{"HS512"}},
			sign(t, jwt.SigningMethodHS512, secret, claims("erin")), "erin"},
		{"issuer and audience", transports.JWTConfig{Secret: secret, Issuer: "https://issuer", Audience: "actorhub"},
			sign(t, jwt.SigningMethodHS256, secret, claims("frank", "iss", "https://issuer", "aud", []string{"other", "actorhub"})), "frank"},
		{"custom user claim", transports.JWTConfig{Secret: secret, UserClaim: "uid"},
			sign(t, jwt.SigningMethodHS256, secret, claims("ignored", "uid", "grace")), "grace"},
		{"numeric user claim", transports.JWTConfig{Secret: secret, UserClaim: "uid"},
			sign(t, jwt.SigningMethodHS256, secret, claims("ignored", "uid", 42)), "42"},
		{"expired within leeway", transports.JWTConfig{Secret: secret, Leeway: 2 * time.Minute},
			sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "heidi", "exp": past}), "heidi"},
		{"no exp when allowed", transports.JWTConfig{Secret: secret, AllowNoExpiry: true},
			sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "ivan"}), "ivan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, cl, err := newJWT(t, tc.cfg).AuthenticateClaims(nil, tc.token)
			if err != nil || user != tc.user {
				t.Fatalf("got %q, %v; want %q", user, err, tc.user)
			}
			if cl["sub"] == nil {
				t.Fatalf("claims %v lack sub", cl)
			}
		})
	}
}

func TestJWTRefuses(t *testing.T) {
	ks := rsaKeys()
	pub := publicPEM(t, ks[0])
	hs := transports.JWTConfig{Secret: secret}
	rs := transports.JWTConfig{PublicKeys: [][]byte{pub}}
	both := transports.JWTConfig{Secret: secret, PublicKeys: [][]byte{pub}}
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	hour := time.Hour
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("mallory"))
	for _, tc := range []struct {
		name  string
		cfg   transports.JWTConfig
		token string
		why   error // nil: any reason
	}{
		{"expired", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(-time.Second).Unix()}), jwt.ErrTokenExpired},
		{"not yet valid", hs, sign(t, jwt.SigningMethodHS256, secret, claims("a", "nbf", time.Now().Add(hour).Unix())), jwt.ErrTokenNotValidYet},
		{"no exp", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a"}), jwt.ErrTokenRequiredClaimMissing},
		{"wrong secret", hs, sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two bytes"), claims("a")), jwt.ErrTokenSignatureInvalid},
		{"wrong RSA key", rs, sign(t, jwt.SigningMethodRS256, other, claims("a")), nil},
		{"HS256 with the public key as secret", rs, sign(t, jwt.SigningMethodHS256, pub, claims("a")), jwt.ErrTokenSignatureInvalid},
		{"HS256 with the public key as secret, both kinds", both, sign(t, jwt.SigningMethodHS256, pub, claims("a")), jwt.ErrTokenSignatureInvalid},
		{"RS256 when only HS256", hs, sign(t, jwt.SigningMethodRS256, ks[0], claims("a")), jwt.ErrTokenSignatureInvalid},
		{"HS384 not configured", hs, sign(t, jwt.SigningMethodHS384, secret, claims("a")), jwt.ErrTokenSignatureInvalid},
		{"alg none", hs, none, nil},
		{"alg none, RSA", rs, none, nil},
		{"wrong issuer", transports.JWTConfig{Secret: secret, Issuer: "https://issuer"},
			sign(t, jwt.SigningMethodHS256, secret, claims("a", "iss", "https://evil")), jwt.ErrTokenInvalidIssuer},
		{"no issuer", transports.JWTConfig{Secret: secret, Issuer: "https://issuer"},
			sign(t, jwt.SigningMethodHS256, secret, claims("a")), nil},
		{"wrong audience", transports.JWTConfig{Secret: secret, Audience: "actorhub"},
			sign(t, jwt.SigningMethodHS256, secret, claims("a", "aud", "other")), jwt.ErrTokenInvalidAudience},
		{"no audience", transports.JWTConfig{Secret: secret, Audience: "actorhub"},
			sign(t, jwt.SigningMethodHS256, secret, claims("a")), nil},
		{"missing user claim", hs, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": time.Now().Add(hour).Unix()}), nil},
		{"missing custom user claim", transports.JWTConfig{Secret: secret, UserClaim: "uid"},
			sign(t, jwt.SigningMethodHS256, secret, claims("a")), nil},
		{"empty user claim", hs, sign(t, jwt.SigningMethodHS256, secret, claims("")), nil},
		{"garbage", hs, "not.a.jwt", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, cl, err := newJWT(t, tc.cfg).AuthenticateClaims(nil, tc.token)
			if err == nil {
				t.Fatalf("accepted as %q", user)
			}
			if !errors.Is(err, transports.ErrUnauthorized) {
				t.Errorf("error %v is not ErrUnauthorized", err)
			}
			if tc.why != nil && !errors.Is(err, tc.why) {
				t.Errorf("error %v, want %v", err, tc.why)
			}
			if user != "" || cl != nil {
				t.Errorf("a refusal returned %q, %v", user, cl)
			}
		})
	}
}

func TestJWTNoToken(t *testing.T) {
	if user, cl, err := newJWT(t, transports.JWTConfig{Secret: secret}).AuthenticateClaims(nil, ""); user != "" || cl != nil || err != nil {
		t.Fatalf("no token: %q, %v, %v; want anonymous", user, cl, err)
	}
	_, _, err := newJWT(t, transports.JWTConfig{Secret: secret, Required: true}).AuthenticateClaims(nil, "")
	if !errors.Is(err, transports.ErrUnauthorized) {
		t.Fatalf("no token when Required: %v", err)
	}
}

func TestJWTConfigErrors(t *testing.T) {
	pub := publicPEM(t, rsaKeys()[0])
	for _, tc := range []struct {
		cfg  transports.JWTConfig
		want string
	}{
		{transports.JWTConfig{}, "Secret or PublicKeys"},
		{transports.JWTConfig{Secret: []byte("short")}, "JWTConfig.Secret"},
		{transports.JWTConfig{PublicKeys: [][]byte{[]byte("not pem")}}, "JWTConfig.PublicKeys[0]"},
		{transports.JWTConfig{Secret: secret, Algorithms: []string{"none"}}, "JWTConfig.Algorithms"},
		{transports.JWTConfig{Secret: secret, Algorithms: []string{"ES256"}}, "JWTConfig.Algorithms"},
		{transports.JWTConfig{Secret: secret, Algorithms: []string{}}, "JWTConfig.Algorithms"},
		{transports.JWTConfig{Secret: secret, Algorithms: []string{"RS256"}}, "PublicKeys is empty"},
		{transports.JWTConfig{PublicKeys: [][]byte{pub}, Algorithms: []string{"HS256"}}, "Secret is not set"},
		{transports.JWTConfig{Secret: secret, Leeway: -time.Second}, "JWTConfig.Leeway"},
	} {
		_, err := transports.NewJWTAuthenticator(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.cfg, err, tc.want)
		}
	}
}

func TestRequireAuthenticationNeedsAnAuthenticator(t *testing.T) {
	h, err := hub.New(testHub{}, hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(t.Context())
	_, err = transports.NewHandler(h, transports.Config{RequireAuthentication: true})
	if err == nil || !strings.Contains(err.Error(), "RequireAuthentication") {
		t.Fatalf("error %v", err)
	}
}

// TestRequireAuthenticationOverHTTP runs a hub that needs a JWT on every
// request, over real HTTP.
func TestRequireAuthenticationOverHTTP(t *testing.T) {
	auth, err := transports.NewJWTAuthenticator(transports.JWTConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{Authenticator: auth, RequireAuthentication: true})
	good := sign(t, jwt.SigningMethodHS256, secret, claims("alice", "role", "admin"))
	expired := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()})

	refused := func(t *testing.T, what string, status int, hdr http.Header) {
		t.Helper()
		if status != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401", what, status)
		}
		if hdr != nil && hdr.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("%s: WWW-Authenticate %q", what, hdr.Get("WWW-Authenticate"))
		}
	}
	t.Run("negotiate", func(t *testing.T) {
		status, hdr, _ := post(t, hubURL+"/negotiate?negotiateVersion=1", nil)
		refused(t, "no token", status, hdr)
		status, hdr, _ = post(t, hubURL+"/negotiate?negotiateVersion=1", bearer(expired))
		refused(t, "expired", status, hdr)
		status, hdr, _ = post(t, hubURL+"/negotiate?negotiateVersion=1&access_token="+expired, nil)
		refused(t, "expired access_token", status, hdr)
	})
	t.Run("WebSocket", func(t *testing.T) {
		n := negotiate(t, hubURL, "negotiateVersion=1", bearer(good))
		refused(t, "no token", dialStatus(t, hubURL, "id="+n.ConnectionToken, nil), nil)
		refused(t, "expired", dialStatus(t, hubURL, "id="+n.ConnectionToken, bearer(expired)), nil)
		refused(t, "skipNegotiation, no token", dialStatus(t, hubURL, "", nil), nil)
		status, hdr, _ := do(t, http.MethodGet, hubURL+"?id="+n.ConnectionToken, nil)
		refused(t, "HTTP transport, no token", status, hdr)

		c := dial(t, hubURL, "id="+n.ConnectionToken+"&access_token="+good, nil)
		c.handshake()
		if m := c.invoke("1", "WhoAmI"); m.Error != "" || m.Result != "alice" {
			t.Fatalf("WhoAmI: %+v", m)
		}
		if m := c.invoke("2", "Claim", "role"); m.Error != "" || m.Result != "admin" {
			t.Fatalf("Claim role: %+v", m)
		}
	})
	t.Run("skipNegotiation", func(t *testing.T) {
		c := dial(t, hubURL, "", bearer(good))
		c.handshake()
		if m := c.invoke("1", "WhoAmI"); m.Error != "" || m.Result != "alice" {
			t.Fatalf("WhoAmI: %+v", m)
		}
	})
}

// TestRequireAuthenticationAnyAuthenticator: the handler refuses anonymous
// requests whatever the Authenticator.
func TestRequireAuthenticationAnyAuthenticator(t *testing.T) {
	hubURL, _ := startServer(t, hub.Config{}, transports.Config{Authenticator: testTokens, RequireAuthentication: true})
	if status, _, _ := post(t, hubURL+"/negotiate?negotiateVersion=1", nil); status != http.StatusUnauthorized {
		t.Fatalf("anonymous negotiate: %d", status)
	}
	n := negotiate(t, hubURL, "negotiateVersion=1", bearer("test:alice"))
	c := dial(t, hubURL, "id="+n.ConnectionToken, bearer("test:alice"))
	c.handshake()
	if m := c.invoke("1", "Claim", "sub"); m.Error != "" || m.Result != nil {
		t.Fatalf("claims of a plain Authenticator: %+v", m)
	}
}
