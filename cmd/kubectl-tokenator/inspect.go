package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// The JWT header parameters and claims inspect shows, in this order. No other
// claim is shown: a token may carry personal data, or a nested token.
var (
	jwtHeaderFields = []string{"alg", "kid", "typ"}
	jwtClaims       = []string{"iss", "sub", "aud", "azp", "scope", "scp", "scopes", "iat", "nbf", "exp"}
	timeClaims      = map[string]bool{"iat": true, "nbf": true, "exp": true}
)

// maxClaimLength bounds how much of one claim is shown.
const maxClaimLength = 200

type inspectOptions struct{ *options }

func newInspectCommand(o *options) *cobra.Command {
	i := &inspectOptions{options: o}
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Tell what the current token says, without showing it",
		Long: "inspect reads the derived Secret of an OAuthClient and prints what its token says: for a\n" +
			"JWT its header (alg, kid, typ) and claims (iss, sub, aud, azp, scope, iat, nbf, exp), for an\n" +
			"opaque token its length and expiry. The token and its signature are never printed, and\n" +
			"the signature is not verified.",
		Example: "  kubectl tokenator inspect -n shop buyback",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return i.run(cmd.Context(), args[0])
		},
	}
}

func (i *inspectOptions) run(ctx context.Context, name string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	clients, err := i.find(selection{}, []string{name})
	if err != nil {
		return err
	}
	oc := clients[0].oc
	cs, err := i.clientset()
	if err != nil {
		return err
	}
	secret, err := cs.CoreV1().Secrets(oc.Namespace).Get(ctx, secretName(oc), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the derived Secret: %w", err)
	}
	token := string(secret.Data[tokenatorv1.SecretKeyAccessToken])
	if token == "" {
		return fmt.Errorf("Secret %s/%s holds no %s", secret.Namespace, secret.Name, tokenatorv1.SecretKeyAccessToken)
	}
	now := i.now()
	w := tabwriter.NewWriter(i.streams.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "OAuthClient:\t%s/%s\n", oc.Namespace, oc.Name)
	fmt.Fprintf(w, "Secret:\t%s\n", secret.Name)
	fmt.Fprintf(w, "Token type:\t%s\n", printable(string(secret.Data[tokenatorv1.SecretKeyTokenType])))
	if exp, err := time.Parse(time.RFC3339, string(secret.Data[tokenatorv1.SecretKeyExpiresAt])); err == nil {
		fmt.Fprintf(w, "Expires at:\t%s (%s)\n", exp.UTC().Format(time.RFC3339), relative(exp, now))
	}
	if scope := secret.Annotations[tokenatorv1.AnnotationScope]; scope != "" {
		fmt.Fprintf(w, "Scope granted:\t%s\n", printable(scope))
	}
	fmt.Fprintf(w, "Length:\t%d characters\n", len(token))
	header, claims, err := decodeJWT(token)
	if err != nil {
		fmt.Fprintf(w, "Format:\topaque (%s)\n", err)
		return w.Flush()
	}
	fmt.Fprintf(w, "Format:\tJWT (signature not shown, not verified)\n")
	if err := w.Flush(); err != nil {
		return err
	}
	printFields(i.streams.Out, "Header:", header, jwtHeaderFields, now)
	printFields(i.streams.Out, "Claims:", claims, jwtClaims, now)
	return nil
}

// decodeJWT returns the header and the claims of a JWS compact serialisation;
// an error says why token is not one.
func decodeJWT(token string) (header, claims map[string]json.RawMessage, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not three dot-separated parts")
	}
	if header, err = decodeSegment(parts[0]); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if claims, err = decodeSegment(parts[1]); err != nil {
		return nil, nil, fmt.Errorf("payload: %w", err)
	}
	return header, claims, nil
}

func decodeSegment(seg string) (map[string]json.RawMessage, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return nil, errors.New("not base64url")
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// printFields prints the named fields present in m, times as dates.
func printFields(out io.Writer, title string, m map[string]json.RawMessage, names []string, now time.Time) {
	fmt.Fprintln(out, title)
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	shown := 0
	for _, name := range names {
		raw, ok := m[name]
		if !ok {
			continue
		}
		shown++
		fmt.Fprintf(w, "  %s:\t%s\n", name, fieldValue(name, raw, now))
	}
	if shown == 0 {
		fmt.Fprintln(w, "  <none of "+strings.Join(names, ", ")+">")
	}
	_ = w.Flush()
}

// fieldValue renders a header parameter or claim: a string as it is, a
// NumericDate as a date, anything else as compact JSON; control characters
// are escaped and long values cut.
func fieldValue(name string, raw json.RawMessage, now time.Time) string {
	if timeClaims[name] {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			if f, err := strconv.ParseFloat(string(n), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && f > 0 && f < 253402300800 {
				whole, frac := math.Modf(f)
				t := time.Unix(int64(whole), int64(frac*1e9)).UTC()
				return fmt.Sprintf("%s (%s)", t.Truncate(time.Second).Format(time.RFC3339), relative(t, now))
			}
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return `""`
		}
		return cut(printable(s))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return "<invalid JSON>"
	}
	return cut(printable(compact.String()))
}

// relative is "in 59m" or "2m ago".
func relative(t, now time.Time) string {
	if d := t.Sub(now); d >= 0 {
		return "in " + duration.HumanDuration(d)
	}
	return duration.HumanDuration(now.Sub(t)) + " ago"
}

// printable quotes s when it holds characters a terminal would interpret.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}

func cut(s string) string {
	if len(s) <= maxClaimLength {
		return s
	}
	return s[:maxClaimLength] + fmt.Sprintf("... (%d bytes)", len(s))
}
