package netpoll

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// FrameHeaderLen returns the size of the header of an unmasked frame with
// an n-byte payload: 2, 4 or 10 bytes.
func FrameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// AppendFrameHeader appends to dst the header of a final, unmasked frame
// (what a server sends) of opcode op with an n-byte payload. The payload is
// to be appended after it, for instance by an encoder writing in place.
func AppendFrameHeader(dst []byte, op ws.OpCode, n int) []byte {
	b0 := 0x80 | byte(op)
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

// AppendFrame appends to dst a final, unmasked frame of opcode op carrying
// payload: header and payload, ready for Conn.Write.
func AppendFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	if need := FrameHeaderLen(len(payload)) + len(payload); cap(dst)-len(dst) < need {
		grown := make([]byte, len(dst), len(dst)+need)
		copy(grown, dst)
		dst = grown
	}
	dst = AppendFrameHeader(dst, op, len(payload))
	return append(dst, payload...)
}

// closeFrame builds a close frame; code 0 means no body. reason is cut to
// fit a control frame, on a rune boundary.
func closeFrame(code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return AppendFrame(nil, ws.OpClose, nil)
	}
	const maxReason = ws.MaxControlFramePayloadSize - 2
	if len(reason) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	body := make([]byte, 2+len(reason))
	ws.PutCloseFrameBody(body, code, reason)
	return AppendFrame(nil, ws.OpClose, body)
}

// errCloseBody reports a close frame whose payload is a single byte.
var errCloseBody = ws.ProtocolError("close frame payload of one byte")

// parseCloseBody validates the payload of the peer's close frame and
// returns its code (0 for an empty payload).
func parseCloseBody(p []byte) (ws.StatusCode, error) {
	switch len(p) {
	case 0:
		return 0, nil
	case 1:
		return 0, errCloseBody
	}
	code, reason := ws.ParseCloseFrameDataUnsafe(p)
	if err := ws.CheckCloseFrameData(code, reason); err != nil {
		return 0, err
	}
	return code, nil
}
