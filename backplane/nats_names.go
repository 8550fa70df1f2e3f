package backplane

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Channel names are arbitrary strings (a group's name is whatever a hub
// method passes), but a NATS subject token cannot hold '.', '*', '>' or
// white space, a bucket name only letters, digits, '-' and '_', and a
// key no leading or trailing '.'. Each maps names into what it can hold
// with an escape byte: the bytes it keeps stay, every other byte
// (the escape byte included) becomes the escape byte and two upper-case
// hex digits. The mapping is one-to-one; an empty name is the escape byte
// alone, and a name whose token would be longer than maxToken is the
// escape byte, 'H' and the SHA-256 of the name (neither is the start of
// another name's escape).

const maxToken = 200

// subjectToken is a channel name as one subject token.
func subjectToken(name string) string {
	return token(name, '%', func(c byte) bool {
		return isAlnum(c) || c == '-' || c == '_' || c == ':'
	})
}

// bucketToken is a presence set's name in a bucket name.
func bucketToken(name string) string {
	return token(name, '_', func(c byte) bool { return isAlnum(c) || c == '-' })
}

// keyToken is a node's name as a key.
func keyToken(name string) string {
	return token(name, '=', func(c byte) bool { return isAlnum(c) || c == '-' || c == '_' })
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func token(name string, esc byte, keep func(byte) bool) string {
	if name == "" {
		return string(esc)
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keep(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte(esc)
			b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
		if b.Len() > maxToken {
			sum := sha256.Sum256([]byte(name))
			return string(esc) + "H" + hex.EncodeToString(sum[:])
		}
	}
	return b.String()
}

// untoken reverses token for the names that were not hashed.
func untoken(t string, esc byte) (string, error) {
	if t == string(esc) {
		return "", nil
	}
	if len(t) > 1 && t[0] == esc && t[1] == 'H' {
		return "", errors.New("backplane: a hashed name cannot be reversed")
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] != esc {
			b.WriteByte(t[i])
			continue
		}
		if i+2 >= len(t) {
			return "", fmt.Errorf("backplane: %q: a cut escape", t)
		}
		v, err := strconv.ParseUint(t[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("backplane: %q: a bad escape", t)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// A large message travels in parts, each with the header
// "Actorhub-Part: <id> <index> <count>"; id names the message (its
// publisher's id and a number), index counts from 0.

const maxParts = 1 << 12 // a message of at most 4,096 parts (4 GB at 1 MB each)

func formatPart(id string, index, count int) string {
	return id + " " + strconv.Itoa(index) + " " + strconv.Itoa(count)
}

// parsePart reads a part header.
func parsePart(h string) (id string, index, count int, err error) {
	f := strings.Fields(h)
	if len(f) != 3 {
		return "", 0, 0, fmt.Errorf("%w: part header %q", ErrMalformed, h)
	}
	index, err1 := strconv.Atoi(f[1])
	count, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || count < 2 || count > maxParts || index < 0 || index >= count {
		return "", 0, 0, fmt.Errorf("%w: part header %q", ErrMalformed, h)
	}
	return f[0], index, count, nil
}

// assembly puts parts back together. The parts of one message come from
// one publisher on one subject, so in order: a part that is not the next
// one expected means parts were lost, and the message is dropped. Bounded:
// at most maxAssembling bytes wait, the oldest message dropped first, and
// a message not complete within a minute is dropped.
type assembly struct {
	partial map[string]*partial
	bytes   int
}

type partial struct {
	subject string
	parts   [][]byte
	next    int
	count   int
	size    int
	started time.Time
}

const (
	maxAssembling = 64 << 20
	assemblyLimit = time.Minute
)

// add takes a part: whole is the message once its last part is in
// (complete), lost counts the messages dropped meanwhile.
func (a *assembly) add(header, subject string, data []byte, now time.Time) (whole []byte, complete bool, lost int) {
	id, index, count, err := parsePart(header)
	if err != nil {
		return nil, false, 1
	}
	p := a.partial[id]
	if p != nil && (p.subject != subject || p.count != count || index != p.next) {
		a.drop(id)
		lost++
		p = nil
	}
	if p == nil {
		if index != 0 {
			if index == count-1 {
				return nil, false, lost + 1 // the end of a message whose start was lost
			}
			return nil, false, lost
		}
		p = &partial{subject: subject, count: count, started: now}
		a.partial[id] = p
	}
	p.parts = append(p.parts, data)
	p.next++
	p.size += len(data)
	a.bytes += len(data)
	for a.bytes > maxAssembling {
		a.drop(a.oldest())
		lost++
		if a.partial[id] == nil {
			return nil, false, lost
		}
	}
	if p.next < p.count {
		return nil, false, lost
	}
	whole = make([]byte, 0, p.size)
	for _, b := range p.parts {
		whole = append(whole, b...)
	}
	a.drop(id)
	return whole, true, lost
}

func (a *assembly) drop(id string) {
	if p := a.partial[id]; p != nil {
		a.bytes -= p.size
		delete(a.partial, id)
	}
}

func (a *assembly) oldest() string {
	var id string
	var at time.Time
	for k, p := range a.partial {
		if id == "" || p.started.Before(at) {
			id, at = k, p.started
		}
	}
	return id
}

// expire drops the messages not complete within assemblyLimit.
func (a *assembly) expire(now time.Time) int {
	lost := 0
	for id, p := range a.partial {
		if now.Sub(p.started) > assemblyLimit {
			a.drop(id)
			lost++
		}
	}
	return lost
}
