package service_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/actorhub/actorhub/service"
)

// An application server sends a client to actorhub: its negotiate answers
// with the client URL and a token for the user. The SignalR clients follow
// the redirect by themselves.
func ExampleAccessKey_Negotiate() {
	key, err := service.NewAccessKey("an-access-key-of-at-least-32-bytes!!")
	if err != nil {
		panic(err)
	}
	redirect, err := key.Negotiate("https://rt.example.com", "chat", "alice", map[string]any{"role": "admin"}, time.Hour)
	if err != nil {
		panic(err)
	}
	fmt.Println(redirect.URL)
	fmt.Println(strings.Count(redirect.AccessToken, "."))
	// Output:
	// https://rt.example.com/client/?hub=chat
	// 2
}

// A program calls the REST API with a token whose audience is the URL.
func ExampleAccessKey_Token() {
	key, err := service.NewAccessKey("an-access-key-of-at-least-32-bytes!!")
	if err != nil {
		panic(err)
	}
	url := "https://rt.example.com/api/hubs/chat/:send"
	token, err := key.Token(url, 5*time.Minute, nil)
	if err != nil {
		panic(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+"?api-version=2022-06-01", strings.NewReader(`{"target":"newMessage","arguments":["hello"]}`))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	fmt.Println(req.Method, req.URL.Path)
	// Output: POST /api/hubs/chat/:send
}
