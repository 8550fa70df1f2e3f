package protocol

import "math"

// HandshakeRequest is the client's first message:
// {"protocol":"json"|"messagepack","version":1|2} ended by RecordSeparator,
// always JSON whatever protocol it names.
type HandshakeRequest struct {
	// Protocol is the hub protocol's name, as in Protocol.Name.
	Protocol string
	// Version is the protocol version the client asks for.
	Version int
}

// ReadHandshake decodes the handshake request at the start of data and returns
// it with the bytes after it (hub messages may follow in the same read). It
// fails with ErrIncomplete when data holds no RecordSeparator yet, with
// ErrTooLarge when more than maxSize bytes (0 = no limit) come before it, and
// with an error wrapping ErrInvalid when the record is not a JSON object with
// a string "protocol" and an integer "version". Other properties are ignored.
func ReadHandshake(data []byte, maxSize int) (req HandshakeRequest, rest []byte, err error) {
	rec, rest, err := nextRecord(data, maxSize)
	if err != nil {
		return req, nil, err
	}
	req, err = parseHandshake(rec)
	return req, rest, err
}

func parseHandshake(rec []byte) (req HandshakeRequest, err error) {
	s := scanner{buf: rec}
	if err := s.openObject(1, ""); err != nil {
		return req, err
	}
	var (
		protocol                strSpan
		hasProtocol, hasVersion bool
		version                 int64
		tmp                     [32]byte
	)
	for first := true; ; first = false {
		key, done, err := s.nextMember(first)
		if err != nil {
			return req, err
		}
		if done {
			break
		}
		switch string(s.name(key, &tmp)) {
		case "protocol":
			protocol, hasProtocol, err = s.readNullableString("protocol")
		case "version":
			version, err = s.readInt("version")
			hasVersion = err == nil
		default:
			_, err = s.skipValue(1)
		}
		if err != nil {
			return req, err
		}
	}
	if err := s.end(); err != nil {
		return req, err
	}
	if !hasProtocol {
		return req, missing("protocol")
	}
	if !hasVersion {
		return req, missing("version")
	}
	if version < math.MinInt32 || version > math.MaxInt32 {
		return req, invalidf("'version' out of range")
	}
	switch raw := rec[protocol.start:protocol.end]; {
	case string(raw) == "json": // the usual names need no allocation
		req.Protocol = "json"
	case string(raw) == "messagepack":
		req.Protocol = "messagepack"
	default:
		if req.Protocol, err = s.text(protocol); err != nil {
			return req, err
		}
	}
	req.Version = int(version)
	return req, nil
}

// AppendHandshakeResponse appends the server's handshake reply to dst: {} and
// RecordSeparator when errMsg is empty, else {"error":errMsg} and
// RecordSeparator.
func AppendHandshakeResponse(dst []byte, errMsg string) []byte {
	if errMsg == "" {
		return append(dst, '{', '}', RecordSeparator)
	}
	dst = appendString(append(dst, `{"error":`...), errMsg)
	return append(dst, '}', RecordSeparator)
}
