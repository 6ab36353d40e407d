package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"reflect"
	"testing"
)

func TestParamsOrder(t *testing.T) {
	r := &Request{ClientID: "id", ClientSecret: "pw", Scopes: []string{"a", "", " b "}, Audience: "aud",
		ExtraParameters: map[string]string{"z": "1", "resource": "2"}}
	ps, err := r.params()
	if err != nil {
		t.Fatal(err)
	}
	want := []param{{"grant_type", "client_credentials"}, {"client_id", "id"}, {"client_secret", "pw"},
		{"scope", "a b"}, {"audience", "aud"}, {"resource", "2"}, {"z", "1"}}
	if !reflect.DeepEqual(ps, want) {
		t.Errorf("params = %v\nwant %v", ps, want)
	}
	r.ClientAuth, r.Scopes, r.Audience, r.ExtraParameters = ClientAuthBasic, []string{" "}, "", nil
	if ps, _ = r.params(); !reflect.DeepEqual(ps, []param{{"grant_type", "client_credentials"}}) {
		t.Errorf("basic params = %v", ps)
	}
}

func TestEncodeBody(t *testing.T) {
	ps := []param{{"grant_type", "client_credentials"}, {"client_secret", "a&b=c +%é"}, {"scope", "x y"}}
	want := map[string]string{"grant_type": "client_credentials", "client_secret": "a&b=c +%é", "scope": "x y"}

	body, ct, err := encodeBody("", ps)
	if err != nil || ct != "application/x-www-form-urlencoded" {
		t.Fatalf("form: %q %v", ct, err)
	}
	if string(body) != "grant_type=client_credentials&client_secret=a%26b%3Dc+%2B%25%C3%A9&scope=x+y" {
		t.Errorf("form body %q", body)
	}
	values, err := url.ParseQuery(string(body))
	if err != nil || len(values) != 3 {
		t.Fatalf("form does not parse back: %v", err)
	}
	for k, v := range want {
		if values.Get(k) != v {
			t.Errorf("form %s = %q", k, values.Get(k))
		}
	}

	body, ct, err = encodeBody(EncodingMultipart, ps)
	if err != nil {
		t.Fatalf("multipart: %v", err)
	}
	mediaType, mparams, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "multipart/form-data" || mparams["boundary"] == "" {
		t.Fatalf("multipart Content-Type %q", ct)
	}
	mr := multipart.NewReader(bytes.NewReader(body), mparams["boundary"])
	var names []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart part: %v", err)
		}
		value, _ := io.ReadAll(part)
		// Like curl -F: a plain form field, no file name, no Content-Type.
		if part.FileName() != "" || part.Header.Get("Content-Type") != "" || want[part.FormName()] != string(value) {
			t.Errorf("part %q = %q (file %q, type %q)", part.FormName(), value, part.FileName(), part.Header.Get("Content-Type"))
		}
		names = append(names, part.FormName())
	}
	if !reflect.DeepEqual(names, []string{"grant_type", "client_secret", "scope"}) {
		t.Errorf("multipart parts %v", names)
	}

	body, ct, err = encodeBody(EncodingJSON, ps)
	if err != nil || ct != "application/json" {
		t.Fatalf("json: %q %v", ct, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil || len(obj) != 3 {
		t.Fatalf("json body %q: %v", body, err)
	}
	for k, v := range want {
		if obj[k] != v {
			t.Errorf("json %s = %#v", k, obj[k])
		}
	}
}

func TestNewHTTPRequest(t *testing.T) {
	r := &Request{TokenURL: "https://idp.example.com/token?tenant=1#frag", ClientID: "id", ClientSecret: "pw",
		ExtraHeaders: map[string]string{"accept": "text/html", "content-type": "text/plain", "x-api-key": "k"}}
	req, printable, err := r.newHTTPRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if printable != "https://idp.example.com/token" || req.URL.RawQuery != "tenant=1" || req.Method != "POST" {
		t.Errorf("printable %q, query %q, method %s", printable, req.URL.RawQuery, req.Method)
	}
	if req.Header.Get("Accept") != "application/json" || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		req.Header.Get("X-Api-Key") != "k" || req.Header.Get("User-Agent") != "tokenator" || req.Header.Get("Authorization") != "" {
		t.Errorf("headers %v", req.Header)
	}
	if req.GetBody == nil || req.ContentLength == 0 {
		t.Error("the body cannot be replayed on a retried connection")
	}
}
