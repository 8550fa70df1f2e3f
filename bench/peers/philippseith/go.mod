module github.com/actorhub/actorhub/bench/peers/philippseith

go 1.26.0

require (
	github.com/philippseith/signalr v0.6.3
	nhooyr.io/websocket v1.8.7
)

require (
	github.com/cenkalti/backoff/v4 v4.2.1 // indirect
	github.com/go-kit/log v0.2.1 // indirect
	github.com/go-logfmt/logfmt v0.5.1 // indirect
	github.com/klauspost/compress v1.16.6 // indirect
	github.com/teivah/onecontext v1.3.0 // indirect
	github.com/vmihailenco/msgpack/v5 v5.3.5 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
