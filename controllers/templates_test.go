package controllers

// Unit tests of extraData rendering. They need no API server: the suite's
// TestMain starts the control plane only for the tests that ask for it, so
// `go test ./controllers/ -run 'Render|Template'` runs without KUBEBUILDER_ASSETS.

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/tokenator-dev/tokenator/internal/oauth"
)

// maxRenderAlloc bounds what one render allocates, whatever the template:
// MaxRenderWork for the functions' values (with what fmt and strings.Builder
// allocate while building them), the output, and one print by text/template
// of the largest value it holds: the whole data ({{ . }}) with the 1 MiB
// token, which fmt builds in a buffer that grows by doubling (the fuzz target
// found 2.4 MB for it).
const maxRenderAlloc = 3 << 20

// hostileToken is a token of 1 MiB made of the characters the escaping
// functions expand most: backslashes, <, quotes, control characters,
// non-ASCII (printable and not) and URL-reserved characters.
var hostileToken = func() string {
	const unit = "\\<\"é\x01\u0085\U000E0001%& '=>"
	return strings.Repeat(unit, (1<<20)/len(unit)+1)[:1<<20]
}()

// allocated is the least TotalAlloc growth of a few runs of f: other
// goroutines of the test binary can only add to one measure.
func allocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// nest is n calls of fn around arg, as a pipeline.
func nest(arg, fn string, n int) string {
	return "{{ " + arg + strings.Repeat(" | "+fn, n) + " }}"
}

// hostileTemplates are the shapes that made rendering allocate without limit,
// and others of the same kind: each is refused when parsed (the error holds
// parse), refused when rendered with hostileToken (render), or renders.
var hostileTemplates = []struct{ name, tpl, parse, render string }{
	{"argument-indexed width", `{{printf "%[2]*[1]s" .TokenType 999999}}`, "* widths and precisions are not allowed", ""},
	{"print of 40 printf", "{{ print" + strings.Repeat(` (printf "%[2]*[1]s" .TokenType 999999)`, 40) + " }}", "* widths and precisions are not allowed", ""},
	{"print of 40 wide printf", "{{ print" + strings.Repeat(` (printf "%999s" .AccessToken)`, 40) + " }}", "", "the template's functions would build over 262144 bytes"},
	{"star width", `{{ printf "%*d" 999999 1 }}`, "* widths and precisions are not allowed", ""},
	{"star precision", `{{ printf "%.*s" 999999 .AccessToken }}`, "* widths and precisions are not allowed", ""},
	{"indexed star precision", `{{ printf "%.[2]*[1]s" .AccessToken 999999 }}`, "* widths and precisions are not allowed", ""},
	{"huge width", `{{ printf "%099999d" 1 }}`, "widths and precisions are limited to 999", ""},
	{"huge precision", `{{ printf "%.99999999f" 1.5 }}`, "widths and precisions are limited to 999", ""},
	{"huge indexed width", `{{ printf "%[1]s%1000[1]s" .AccessToken }}`, "widths and precisions are limited to 999", ""},
	{"argument repeated", `{{ printf "` + strings.Repeat("%[1]s", 600) + `" .AccessToken }}`, "", "the template's functions would build over"},
	{"argument repeated, wide", `{{ printf "` + strings.Repeat("%999[1]s", 300) + `" .ExpiresAt }}`, "the template's functions would build over 262144 bytes", ""},
	{"18 nested js", nest(".AccessToken", "js", 18), "the template's functions would build over 262144 bytes with a 66-byte token", ""},
	{"40 nested html", nest(".AccessToken", "html", 40), "", "the template's functions would build over"},
	{"20 nested urlquery", nest(".AccessToken", "urlquery", 20), "", "the template's functions would build over"},
	{"js html urlquery", nest(".AccessToken", "js | html | urlquery", 6), "", "the template's functions would build over"},
	{"nested js of a slice", nest(`slice .AccessToken 0 60000`, "js", 3), "index out of range: 60000", ""},
	{"nested js of the scope", nest(`.Scope`, "js", 3), "", ""},
	{"js of the token", "{{ js .AccessToken }}", "", "the template's functions would build over"},
	{"print of dot", "{{ print . }}", "", "the template's functions would build over"},
	{"println of dots", "{{ println . . . . . . . . }}", "", "the template's functions would build over"},
	{"printf of dot", `{{ printf "%#v %+q % #x" . . . }}`, "", "the template's functions would build over"},
	{"html of dot", "{{ html . . }}", "", "the template's functions would build over"},
	{"urlquery of two", "{{ urlquery .AccessToken .AccessToken }}", "", "the template's functions would build over"},
	{"dot printed", "{{ . }}", "", "the rendered value is over 65536 bytes"},
	{"token printed", "{{ .AccessToken }}", "", "the rendered value is over 65536 bytes"},
	{"values kept, not printed", strings.Repeat(`{{ $x := printf "%999d%999d%999d" 1 2 3 }}`, 90), "the template's functions would build over 262144 bytes", ""},
	{"values compared, not printed", strings.Repeat("{{ if html .Scope }}{{ end }}", 140), "", "the template's functions would build over"},
	{"budget spent, then the token printed", strings.Repeat(`{{ $x := printf "%999d%999d" 1 2 }}`, 120) + "{{ .AccessToken }}", "", "the rendered value is over 65536 bytes"},
	{"output full, then the token printed", strings.Repeat(`{{ printf "%999d" 1 }}`, 65) + "{{ .AccessToken }}", "", "the rendered value is over 65536 bytes"},
	{"budget spent, then js of the scope", strings.Repeat(`{{ $x := printf "%999d%999d" 1 2 }}`, 60) + nest(".Scope", "js", 8), "", "the template's functions would build over"},
	{"length of js", "{{ len (js .AccessToken) }}", "", "the template's functions would build over"},
	{"printf of the token as format", "{{ printf .AccessToken }}", "", "rendering failed"},
	{"printf format from a slice", `{{ printf (slice .AccessToken 0 4000) 1 }}`, "index out of range: 4000", ""},
	{"big floats", strings.Repeat(`{{ printf "%999.999f" 1e308 }}`, 120), "the rendered value is over 65536 bytes", ""},
	{"big floats kept", strings.Repeat(`{{ $x := printf "%999.999f%999.999[1]f" 1e308i }}`, 70), "the template's functions would build over", ""},
	{"call", "{{ call .AccessToken }}", "call is not available", ""},
	{"index of dot", "{{ index . 1 }}", "can't index item of type controllers.templateData", ""},
	{"compare", strings.Repeat(`{{ if eq .AccessToken .Scope }}{{ end }}{{ if lt .AccessToken .Scope }}{{ end }}`, 50), "", ""},
}

// Every hostile shape is refused, when parsed or when rendered with a 1 MiB
// token, and one render allocates less than maxRenderAlloc.
func TestRenderHostileShapes(t *testing.T) {
	tok := &oauth.Token{AccessToken: hostileToken, TokenType: "Bearer", Scope: hostileToken[:1000], ExpiresAt: time.Now()}
	for _, c := range hostileTemplates {
		t.Run(c.name, func(t *testing.T) {
			var tpls extraDataTemplates
			var err error
			parseAlloc := allocated(func() { tpls, err = parseExtraData(map[string]string{"k": c.tpl}) })
			t.Logf("parse (with its two probe renders) allocated %d bytes", parseAlloc)
			if parseAlloc > maxRenderAlloc {
				t.Errorf("parsing allocated %d bytes, over %d", parseAlloc, maxRenderAlloc)
			}
			if c.parse != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "spec.secret.extraData[k]: ") || !strings.Contains(err.Error(), c.parse) {
					t.Fatalf("parse error %v, want one naming the key with %q", err, c.parse)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused when parsed: %v", err)
			}
			// secretData copies the token into the Secret's data: measure render.
			td := templateData{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Scope: tok.Scope, ExpiresAt: "2026-01-02T03:04:05Z"}
			renderAlloc := allocated(func() { _, _ = render(tpls["k"], td) })
			data, err := secretData(tok, tpls)
			t.Logf("a render allocated %d bytes", renderAlloc)
			if renderAlloc > maxRenderAlloc {
				t.Errorf("rendering allocated %d bytes, over %d", renderAlloc, maxRenderAlloc)
			}
			if c.render == "" {
				if err != nil {
					t.Fatalf("rendering: %v", err)
				}
				if len(data["k"]) > MaxRenderedBytes {
					t.Fatalf("rendered %d bytes", len(data["k"]))
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "spec.secret.extraData[k]: "+c.render) {
				t.Fatalf("render error %v, want %q", err, c.render)
			}
		})
	}
}

// The bounds refuse a template whatever amplifies the token, and nothing
// else: budgets are per render, so concurrent renders do not share one.
func TestRenderBudgetIsPerRender(t *testing.T) {
	// Each render builds 200 KiB of values: two sharing a budget would fail.
	tpls, err := parseExtraData(map[string]string{"k": strings.Repeat(`{{ $x := printf "%999s" .TokenType }}`, 200) + "ok"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if _, err := secretData(&oauth.Token{AccessToken: "t", TokenType: "Bearer"}, tpls); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// And the budget is spent within one render.
	tpls, err = parseExtraData(map[string]string{"k": strings.Repeat(`{{ $x := printf "%999s" .TokenType }}`, 300)})
	if err == nil || err.Error() != "spec.secret.extraData[k]: the template's functions would build over 262144 bytes" {
		t.Fatalf("300 KiB of values in one render: %v", err)
	}
}

// The templates refused by their shape, and the errors the new functions
// give, each explained in docs/troubleshooting.md.
func TestTemplateRefusals(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, m := range []string{errRenderWork.Error(), errRenderedTooLarge.Error(), fmt.Sprintf("with a %d-byte token", len(hostileProbe.AccessToken))} {
		if !strings.Contains(doc, m) {
			t.Errorf("docs/troubleshooting.md does not explain %q", m)
		}
	}
	for tpl, want := range map[string]string{
		`{{ printf "%[3]s" 1 2 }}`:          "bad argument index",
		`{{ printf "%[0]s" 1 }}`:            "bad argument index",
		`{{ printf "%[x]s" 1 }}`:            "bad argument index",
		`{{ printf "%[1]5s" 1 }}`:           "bad argument index",
		`{{ printf "%[1].5s" 1 }}`:          "bad argument index",
		`{{ printf "%[1" 1 }}`:              "bad argument index",
		`{{ printf "%s %s" 1 }}`:            "a verb has no argument",
		`{{ printf "%s" 1 2 }}`:             "2 arguments for 1 verbs",
		`{{ printf "abc%" }}`:               "the format ends with a % without a verb",
		`{{ printf "%p" . }}`:               "the template data cannot be printed with %p or %w",
		`{{ call .AccessToken }}`:           "call is not available",
		`{{ printf "%5*d" 1 2 }}`:           "* widths and precisions are not allowed",
		`{{ printf "%.1000s" "x" }}`:        "widths and precisions are limited to 999",
		`{{ printf "%.0000000000001s" . }}`: "",
	} {
		_, err := parseExtraData(map[string]string{"k": tpl})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s refused: %v", tpl, err)
		case want != "" && (err == nil || !strings.HasSuffix(err.Error(), ": "+want)):
			t.Errorf("%s: %v, want %q", tpl, err, want)
		case want != "" && !strings.Contains(doc, want):
			t.Errorf("docs/troubleshooting.md does not explain %q", want)
		}
	}
	// A value of a type no template produces is refused, not formatted.
	b := &renderBudget{left: MaxRenderWork}
	if _, err := b.sprintf("%v", []string{"x"}); err == nil || err.Error() != "a template function got a value of type []string" {
		t.Errorf("a slice: %v", err)
	}
	if _, err := b.sprint([]any{map[string]int{}}, false); err == nil {
		t.Error("a map printed")
	}
}

// builtinRender renders tpl with text/template's own functions.
func builtinRender(tpl string, data templateData) (string, error) {
	t, err := template.New("k").Option("missingkey=error").Parse(tpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = t.Execute(&b, data)
	return b.String(), err
}

// oursRender renders tpl as an extraData template, without the probes.
func oursRender(tpl string, data templateData) (string, error) {
	t, err := template.New("k").Option("missingkey=error").Funcs(templateFuncs(&renderBudget{})).Parse(tpl)
	if err != nil {
		return "", err
	}
	out, err := render(t, data)
	return string(out), err
}

// sameAsBuiltin fails t when tpl renders data otherwise than text/template's
// own functions; a template the bounded ones refuse is not compared.
func sameAsBuiltin(t *testing.T, tpl string, data templateData) {
	t.Helper()
	got, err := oursRender(tpl, data)
	if err != nil {
		return
	}
	want, err := builtinRender(tpl, data)
	if err != nil {
		t.Fatalf("%s: rendered %q, text/template fails: %v", tpl, got, err)
	}
	if got != want {
		t.Fatalf("%s with %+q:\n got %q\nwant %q", tpl, data, got, want)
	}
}

// The functions give what text/template's give, where they accept the call.
func TestTemplateFuncsMatchBuiltins(t *testing.T) {
	values := []templateData{
		{AccessToken: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", TokenType: "Bearer", ExpiresAt: "2026-01-02T03:04:05Z", Scope: "a b"},
		{AccessToken: "tok\"en</script>&'=\\\x00\x01\x7f", TokenType: "", ExpiresAt: "", Scope: "é ü \u0085 \U000E0001 \xff\xfe"},
	}
	templates := []string{
		"Bearer {{ .AccessToken }}",
		"{{ .TokenType }} {{ .AccessToken }}",
		`{"token":"{{ js .AccessToken }}","type":"{{ .TokenType }}"}`,
		"{{ html .AccessToken }} {{ urlquery .AccessToken }} {{ js .Scope }} {{ html .Scope }} {{ urlquery .Scope }}",
		"{{ js . }}|{{ html . 1 nil }}|{{ urlquery 1 2 .Scope true }}|{{ js }}|{{ html nil }}",
		"{{ print }}|{{ print . }}|{{ print 1 2 \"a\" 3 \"b\" \"c\" true nil 2.5 1i }}|{{ println . 1 \"x\" }}",
		`{{ printf "%s|%v|%q|%x|%X|% x|%#x|%d|%T|%5s|%-5s|%.3s|%05s|%+q|%#q|%#v|%+v|%U|%c|%t" .AccessToken .AccessToken .AccessToken .AccessToken .AccessToken .Scope .Scope .Scope .Scope .TokenType .TokenType .AccessToken .TokenType .Scope .AccessToken .AccessToken .AccessToken .AccessToken .TokenType .TokenType }}`,
		`{{ printf "%v|%+v|%#v|%s|%q|%x|%5.2s|%d|%T|%-3v" . . . . . . . . . . }}`,
		`{{ printf "%d|%5d|%-5d|%05d|%+d|%x|%#x|%o|%O|%b|%c|%U|%#U|%q|%.3d|%v|%e|%E|%f|%.2f|%8.3f|%g|%G|%x|%b|%v|%.3v|%t|%5t|%v|%s" 42 42 42 42 42 255 255 8 8 5 65 65 128512 65 7 -1 1234.5678 1234.5678 1234.5678 3.14159 3.14159 1e21 1e-7 1.5 2.0 1i 2.5i true false nil nil }}`,
		`{{ printf "%[2]s %[1]s %s|%[1]q%%%[2]v|%.[1]3d|%5[2]s|%3.[1]2f" .TokenType .Scope }}`,
		`{{ printf "%[1]d %[1]x %[1]o" 255 }}`,
		`{{ printf "%s" (index .AccessToken 1) }}|{{ printf "%v" (len .Scope) }}|{{ printf "%q" (slice .AccessToken 0 3) }}`,
		`{{ printf "%!|%é|%5.|%.|%w|%-+# 0v" .TokenType .Scope .Scope .AccessToken .TokenType 3 }}`,
		`{{ printf "%d" .AccessToken }}`,
		`{{ printf "" }}{{ printf "plain" }}{{ printf "%%" }}{{ printf "%5%" }}`,
		"{{ if eq .TokenType `Bearer` }}y{{ else }}n{{ end }}{{ with .Scope }}{{ . | printf `%q` }}{{ end }}",
		"{{ .AccessToken | js | html | urlquery }}{{ .Scope | print | println }}",
	}
	for _, data := range values {
		for _, tpl := range templates {
			if _, err := oursRender(tpl, data); err != nil {
				t.Errorf("%s refused: %v", tpl, err)
				continue
			}
			sameAsBuiltin(t, tpl, data)
		}
	}
}

// html, js and urlquery escape every byte and rune as text/template does, and
// count the size of their result exactly.
func TestTemplateEscapersMatchBuiltins(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, r := range []rune{0x80, 0x85, 0xa0, 0xad, 0x2028, 0xfeff, 0xfffd, 0xe0001, 0x10ffff, 'é', '😀', 0x1d173} {
		inputs = append(inputs, string(r), "x"+string(r)+"y")
	}
	inputs = append(inputs, "\xe2\x80", "\xf0\x9f\x98", hostileToken[:4096])
	for _, s := range inputs {
		for name, c := range map[string]struct {
			e    escaper
			want string
		}{
			"html":     {htmlEscaper, template.HTMLEscapeString(s)},
			"js":       {jsEscaper, template.JSEscapeString(s)},
			"urlquery": {queryEscaper, url.QueryEscape(s)},
		} {
			b := &renderBudget{left: MaxRenderWork}
			got, err := b.escape([]any{s}, c.e)
			if err != nil {
				t.Fatalf("%s(%q): %v", name, s, err)
			}
			if got != c.want {
				t.Errorf("%s(%q) = %q, want %q", name, s, got, c.want)
			}
			if n := c.e.size(s); n != len(c.want) {
				t.Errorf("%s(%q): size %d, the result has %d bytes", name, s, n, len(c.want))
			}
			if changes := c.e.changes(s); !changes && got != s {
				t.Errorf("%s(%q): changes is false", name, s)
			}
		}
	}
	if !utf8.ValidString(jsASCII['\\']) {
		t.Fatal("jsASCII")
	}
}

// The probe renders keep refusing a template that fails on placeholder values.
func TestTemplateProbes(t *testing.T) {
	// Fine with "probe", past the bounds with a token that escapes badly.
	_, err := parseExtraData(map[string]string{"k": nest(".AccessToken", "js", 12)})
	if err == nil || !strings.HasPrefix(err.Error(), "spec.secret.extraData[k]: the template's functions would build over") {
		t.Fatalf("12 nested js: %v", err)
	}
	// Errors of the hostile probe that are not bounds do not refuse.
	if _, err := parseExtraData(map[string]string{"k": `{{ if eq .AccessToken "probe" }}{{ else }}{{ index .AccessToken 999 }}{{ end }}`}); err != nil {
		t.Fatal(err)
	}
}

var sink []byte

// benchRender renders tpl with a token of up to 1 MiB that escapes badly, to
// back "one render takes under 10 ms" for the worst shapes: ns/op and B/op are
// those of one render of one key, refused or not.
func benchRender(b *testing.B, tpl string, td templateData) {
	b.Helper()
	// Without the probe renders, which refuse some of these shapes: a
	// template can take another branch with the real token.
	t, err := template.New("k").Option("missingkey=error").Funcs(templateFuncs(&renderBudget{})).Parse(tpl)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = render(t, td)
	}
}

// hostileData has the 1 MiB token.
var hostileData = templateData{AccessToken: hostileToken, TokenType: "Bearer", ExpiresAt: "2026-01-02T03:04:05Z", Scope: hostileToken[:60000]}

// hostileHalves has a token and a scope of 512 KiB each that differ only at
// their end: together they fill the largest token response read.
var hostileHalves = templateData{AccessToken: hostileToken[:1<<19], TokenType: "Bearer", ExpiresAt: "2026-01-02T03:04:05Z",
	Scope: hostileToken[:1<<19-1] + "!"}

func BenchmarkRenderHostileNestedJS(b *testing.B) {
	benchRender(b, nest(".Scope", "js", 18), hostileData)
}

func BenchmarkRenderHostileNestedEscapes(b *testing.B) {
	benchRender(b, nest("slice .Scope 0 10000", "js | html | urlquery", 4), hostileData)
}

func BenchmarkRenderHostileWidePrintf(b *testing.B) {
	benchRender(b, "{{ print"+strings.Repeat(` (printf "%999s" .ExpiresAt)`, 40)+" }}", hostileData)
}

func BenchmarkRenderHostileRepeatedArgument(b *testing.B) {
	benchRender(b, `{{ printf "`+strings.Repeat("%[1]s", 600)+`" .AccessToken }}`, hostileData)
}

func BenchmarkRenderHostileRepeatedArgumentFits(b *testing.B) {
	benchRender(b, `{{ printf "`+strings.Repeat("%200[1]s", 300)+`" .ExpiresAt }}`, hostileData)
}

func BenchmarkRenderHostileKeptValues(b *testing.B) {
	benchRender(b, strings.Repeat(`{{ $x := printf "%999d%999d%999d" 1 2 3 }}`, 85), hostileData)
}

func BenchmarkRenderHostileManyVerbs(b *testing.B) {
	benchRender(b, strings.Repeat(`{{ $x := printf "%.0s%.0s%.0s%.0s%.0s%.0s%.0s%.0s%.0s%.0s%.0s%.0s" .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt .ExpiresAt }}`, 20), hostileData)
}

func BenchmarkRenderHostileEscapedScope(b *testing.B) {
	benchRender(b, strings.Repeat("{{ $x := html .Scope }}", 100), hostileData)
}

func BenchmarkRenderHostileCompare(b *testing.B) {
	benchRender(b, strings.Repeat(`{{ if eq .AccessToken .Scope }}{{ end }}`, 4096/40), hostileHalves)
}

func BenchmarkRenderHostileTokenPrinted(b *testing.B) {
	benchRender(b, "{{ .AccessToken }}", hostileData)
}

// A common template with a 1000-byte JWT, for comparison.
func BenchmarkRenderBearer(b *testing.B) {
	benchRender(b, `{"authorization":"{{ .TokenType }} {{ js .AccessToken }}"}`,
		templateData{AccessToken: strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 50), TokenType: "Bearer"})
}
