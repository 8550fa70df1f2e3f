package protocol_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/actorhub/actorhub/protocol"
)

// A server reads the handshake and the messages that came with it, binds an
// argument, and answers.
func Example() {
	in := []byte("{\"protocol\":\"json\",\"version\":1}\x1e" +
		"{\"type\":6}\x1e" +
		"{\"type\":1,\"invocationId\":\"0\",\"target\":\"Add\",\"arguments\":[2,3]}\x1e" +
		"{\"type\":1,\"target\":\"Se") // the rest comes in a later read

	req, rest, err := protocol.ReadHandshake(in, 32<<10)
	if err != nil {
		panic(err)
	}
	fmt.Printf("handshake: %s v%d\n", req.Protocol, req.Version)
	out := protocol.AppendHandshakeResponse(nil, "")

	for {
		m, next, err := protocol.JSON.ReadMessage(rest, 32<<10)
		if errors.Is(err, protocol.ErrIncomplete) {
			fmt.Printf("waiting for more after %d bytes\n", len(rest))
			break
		}
		if err != nil {
			panic(err)
		}
		rest = next
		inv, ok := m.(*protocol.Invocation)
		if !ok {
			fmt.Printf("message type %d\n", m.Type())
			continue
		}
		var a, b int
		if err := protocol.JSON.Bind(inv.Arguments[0], &a); err != nil {
			panic(err)
		}
		if err := protocol.JSON.Bind(inv.Arguments[1], &b); err != nil {
			panic(err)
		}
		out, err = protocol.JSON.AppendMessage(out, &protocol.Completion{
			InvocationID: inv.InvocationID, HasResult: true, Result: a + b,
		})
		if err != nil {
			panic(err)
		}
	}
	fmt.Printf("%q\n", out)
	// Output:
	// handshake: json v1
	// message type 6
	// waiting for more after 22 bytes
	// "{}\x1e{\"type\":3,\"invocationId\":\"0\",\"result\":5}\x1e"
}

// Arguments stay raw JSON until bound, so a hub can choose their Go types
// after it has looked up the method.
func ExampleProtocol_Bind() {
	m, _, _ := protocol.JSON.ReadMessage([]byte(`{"type":1,"target":"Send","arguments":[{"user":"ann","text":"hi"}]}`+"\x1e"), 0)
	var msg struct {
		User string `json:"user"`
		Text string `json:"text"`
	}
	arg := m.(*protocol.Invocation).Arguments[0]
	fmt.Println(string(arg.(json.RawMessage)))
	if err := protocol.JSON.Bind(arg, &msg); err != nil {
		panic(err)
	}
	fmt.Println(msg.User, msg.Text)
	// Output:
	// {"user":"ann","text":"hi"}
	// ann hi
}
