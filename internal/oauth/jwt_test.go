package oauth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// hostileJWTs are access tokens of about a megabyte shaped to make a JWT
// reader work: many dots, huge or deeply nested segments, repeated claims.
func hostileJWTs() map[string]string {
	const size = 1 << 20
	enc := base64.RawURLEncoding.EncodeToString
	header := enc([]byte(`{"alg":"RS256"}`))
	nested := strings.Repeat(`{"a":[`, size/8)
	return map[string]string{
		"dots":                 strings.Repeat(".", size),
		"dots after a header":  header + strings.Repeat(".", size),
		"long header":          strings.Repeat("e", size) + ".e30.",
		"long payload garbage": header + "." + strings.Repeat("A", size) + ".",
		"standard alphabet":    header + "." + strings.Repeat("+/", size/2) + ".",
		"padding":              header + ".e30" + strings.Repeat("=", size) + ".",
		"nested payload":       header + "." + enc([]byte(nested)) + ".",
		"nested header":        enc([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 12<<10-30))) + ".e30.",
		"repeated exp":         header + "." + enc([]byte("{"+strings.Repeat(`"exp":1700000000,`, size/24)+`"x":0}`)) + ".",
		"long string claim":    header + "." + enc([]byte(`{"exp":1700000000,"x":"`+strings.Repeat("x", size*3/4)+`"}`)) + ".",
		"long signature":       header + ".e30." + strings.Repeat("A", size),
		"x5c of junk":          enc([]byte(`{"alg":"RS256","x5c":["`+strings.Repeat(`MIIB","`, 12<<10/8)+`"]}`)) + ".e30.",
	}
}

// Reading the expiry of a hostile token of a megabyte takes at most
// maxAnswerCPU of CPU time.
func TestJWTExpiryHostile(t *testing.T) {
	for name, token := range hostileJWTs() {
		t.Run(name, func(t *testing.T) {
			start, measured := processCPUTime()
			JWTExpiry(token)
			if end, ok := processCPUTime(); measured && ok && time.Duration(end-start) > maxAnswerCPU {
				t.Errorf("JWTExpiry of %d bytes took %v of CPU time", len(token), time.Duration(end-start))
			}
		})
	}
}

// BenchmarkHostileJWTExpiry reads the expiry of each hostile token.
func BenchmarkHostileJWTExpiry(b *testing.B) {
	for name, token := range hostileJWTs() {
		b.Run(name, func(b *testing.B) {
			cpu := startCPUTimer(b)
			for b.Loop() {
				JWTExpiry(token)
			}
			cpu.report()
		})
	}
}
