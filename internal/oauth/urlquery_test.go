package oauth

import (
	"context"
	"net"
	"strings"
	"testing"
)

// A key in the tokenURL's query never appears in an error: Go's *url.Error
// prints the whole URL.
func TestErrorsHideTheURLQuery(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a closed loopback port: the dial fails
	hc, err := NewHTTPClient(HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Client{HTTPClient: hc}).RequestToken(context.Background(), Request{
		TokenURL: "https://" + addr + "/token?api_key=QUERYSECRET", ClientID: "id", ClientSecret: "s3cr3t-value"})
	if err == nil {
		t.Fatal("request to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "QUERYSECRET") {
		t.Fatalf("the error shows the URL's query: %v", err)
	}
	if !strings.Contains(err.Error(), addr+"/token") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("the error no longer says where and what: %v", err)
	}
}
