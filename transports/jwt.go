package transports

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures the JWT bearer authenticator of NewJWTAuthenticator.
// At least one key is needed; every other field's zero value works.
type JWTConfig struct {
	// Secret is the HMAC key of HS256 (HS384, HS512) tokens, at least 32
	// bytes. nil: no HMAC algorithm is accepted.
	Secret []byte
	// PublicKeys are PEM-encoded RSA public keys ("PUBLIC KEY", "RSA PUBLIC
	// KEY" or a certificate) for RS256 (RS384, RS512) tokens; a token is good
	// when any of them verifies it (several keys allow rotation). nil: no RSA
	// algorithm is accepted.
	PublicKeys [][]byte
	// Algorithms are the accepted "alg" values, among HS256, HS384, HS512,
	// RS256, RS384 and RS512. nil means HS256 when Secret is set and RS256
	// when PublicKeys are. Each must have its kind of key. A token is
	// verified only with the key of its algorithm's kind, so an HMAC token
	// can never be checked against an RSA public key used as a secret; "none"
	// is never accepted.
	Algorithms []string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be one of the token's "aud".
	Audience string
	// UserClaim names the claim that holds the user id, a string or a
	// number. "" means "sub". A token without it is refused.
	UserClaim string
	// Leeway is the clock skew allowed when checking "exp", "nbf" and "iat".
	// 0 means none (ASP.NET Core allows 5 minutes by default).
	Leeway time.Duration
	// AllowNoExpiry accepts tokens without "exp". By default they are
	// refused, as ASP.NET Core's RequireExpirationTime does.
	AllowNoExpiry bool
	// Required refuses requests without a token. By default they are
	// anonymous (Config.RequireAuthentication refuses them at the handler).
	Required bool
}

// jwtAuth is the Authenticator of NewJWTAuthenticator.
type jwtAuth struct {
	parser    *jwt.Parser
	secret    []byte
	rsaKeys   jwt.VerificationKeySet
	userClaim string
	required  bool
}

var (
	_ Authenticator       = (*jwtAuth)(nil)
	_ ClaimsAuthenticator = (*jwtAuth)(nil)
)

// minSecret is the shortest HMAC secret accepted: 256 bits, as RFC 7518
// asks of HS256 keys.
const minSecret = 32

// NewJWTAuthenticator returns an Authenticator of JWT bearer tokens: the
// signature (with the configured keys and algorithms only), "exp" and
// "nbf", and "iss" and "aud" when configured are checked; the user id is
// the UserClaim claim, and the token's claims reach hub code as
// hub.Context.Claims. A bad token is refused with ErrUnauthorized wrapping
// the reason; no token is anonymous unless cfg.Required is set.
func NewJWTAuthenticator(cfg JWTConfig) (Authenticator, error) {
	a := &jwtAuth{userClaim: cfg.UserClaim, required: cfg.Required}
	if a.userClaim == "" {
		a.userClaim = "sub"
	}
	if cfg.Secret == nil && len(cfg.PublicKeys) == 0 {
		return nil, errors.New("transports: JWTConfig needs a Secret or PublicKeys")
	}
	if cfg.Secret != nil {
		if len(cfg.Secret) < minSecret {
			return nil, fmt.Errorf("transports: JWTConfig.Secret has %d bytes; it needs at least %d", len(cfg.Secret), minSecret)
		}
		a.secret = cfg.Secret
	}
	for i, pemKey := range cfg.PublicKeys {
		k, err := jwt.ParseRSAPublicKeyFromPEM(pemKey)
		if err != nil {
			return nil, fmt.Errorf("transports: JWTConfig.PublicKeys[%d]: %w", i, err)
		}
		a.rsaKeys.Keys = append(a.rsaKeys.Keys, k)
	}
	algs := cfg.Algorithms
	if algs == nil {
		if a.secret != nil {
			algs = append(algs, "HS256")
		}
		if len(a.rsaKeys.Keys) > 0 {
			algs = append(algs, "RS256")
		}
	}
	if len(algs) == 0 {
		return nil, errors.New("transports: JWTConfig.Algorithms is empty")
	}
	for _, alg := range algs {
		switch alg {
		case "HS256", "HS384", "HS512":
			if a.secret == nil {
				return nil, fmt.Errorf("transports: JWTConfig.Algorithms has %s but Secret is not set", alg)
			}
		case "RS256", "RS384", "RS512":
			if len(a.rsaKeys.Keys) == 0 {
				return nil, fmt.Errorf("transports: JWTConfig.Algorithms has %s but PublicKeys is empty", alg)
			}
		default:
			return nil, fmt.Errorf("transports: JWTConfig.Algorithms: %q is not supported", alg)
		}
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("transports: JWTConfig.Leeway is negative")
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(slices.Clone(algs)), jwt.WithLeeway(cfg.Leeway)}
	if !cfg.AllowNoExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// Authenticate returns the user id of token.
func (a *jwtAuth) Authenticate(r *http.Request, token string) (string, error) {
	user, _, err := a.AuthenticateClaims(r, token)
	return user, err
}

// AuthenticateClaims returns the user id and the claims of token.
func (a *jwtAuth) AuthenticateClaims(_ *http.Request, token string) (string, map[string]any, error) {
	if token == "" {
		if a.required {
			return "", nil, fmt.Errorf("%w: no token", ErrUnauthorized)
		}
		return "", nil, nil
	}
	claims := jwt.MapClaims{}
	if _, err := a.parser.ParseWithClaims(token, claims, a.key); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	var user string
	switch v := claims[a.userClaim].(type) {
	case string:
		user = v
	case float64:
		user = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if user == "" {
		return "", nil, fmt.Errorf("%w: token has no %q claim", ErrUnauthorized, a.userClaim)
	}
	return user, claims, nil
}

// key picks the verification key by the kind of the token's algorithm, so
// that no key is ever used with an algorithm of another kind (alg
// confusion). The parser has already refused algorithms not configured.
func (a *jwtAuth) key(t *jwt.Token) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if a.secret != nil {
			return a.secret, nil
		}
	case *jwt.SigningMethodRSA:
		if len(a.rsaKeys.Keys) > 0 {
			return a.rsaKeys, nil
		}
	}
	return nil, fmt.Errorf("transports: no key for alg %v", t.Header["alg"])
}
