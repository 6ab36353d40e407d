package main

import (
	"bytes"
	"context"
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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
	"github.com/tokenator-dev/tokenator/internal/oauth"
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

type inspectOptions struct {
	*options
	output string
}

func newInspectCommand(o *options) *cobra.Command {
	i := &inspectOptions{options: o}
	cmd := &cobra.Command{
		Use:   "inspect NAME",
		Short: "Tell what the current token says, without showing it",
		Long: "inspect reads the derived Secret of an OAuthClient and prints what its token says: for a\n" +
			"JWT its header (alg, kid, typ) and claims (iss, sub, aud, azp, scope, iat, nbf, exp), for an\n" +
			"opaque token its length and expiry. The token and its signature are never printed, and\n" +
			"the signature is not verified. It also tells the grant and the client authentication, and\n" +
			"for jwtBearer the issuer and key id of the assertion (never the key). inspect coap NAME does\n" +
			"the same for the shared tokens of a ClusterOAuthProvider.",
		Example:           "  kubectl tokenator inspect -n shop buyback\n  kubectl tokenator inspect -n shop buyback -o json\n  kubectl tokenator inspect coap lucca",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeClients(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return i.run(cmd.Context(), args[0])
		},
	}
	addDataOutputFlag(cmd, &i.output)
	cmd.AddCommand(newInspectProviderCommand(o))
	return cmd
}

// inspection is what inspect -o json|yaml prints.
type inspection struct {
	OAuthClient objectRef  `json:"oauthClient"`
	Grant       *grantInfo `json:"grant,omitempty"`
	Secret      objectRef  `json:"secret"`
	Token       tokenInfo  `json:"token"`
}

// objectRef names an object.
type objectRef struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// tokenInfo is what a token Secret tells of its token, never the token.
type tokenInfo struct {
	Type      string `json:"type"`
	ExpiresAt string `json:"expiresAt,omitempty"`
	Scope     string `json:"scope,omitempty"`
	Length    int    `json:"length"`
	// Format is JWT or opaque; NotJWT says why a token is opaque.
	Format string                     `json:"format"`
	NotJWT string                     `json:"notJWT,omitempty"`
	Header map[string]json.RawMessage `json:"header,omitempty"`
	Claims map[string]json.RawMessage `json:"claims,omitempty"`
}

func (i *inspectOptions) run(ctx context.Context, name string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkDataOutput(i.output); err != nil {
		return err
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
	info, err := readToken(secret)
	if err != nil {
		return err
	}
	grant := i.readGrant(ctx, oc)
	if i.output != "" {
		return printData(i.streams.Out, i.output, inspection{OAuthClient: objectRef{Namespace: oc.Namespace, Name: oc.Name},
			Grant: grant, Secret: objectRef{Namespace: secret.Namespace, Name: secret.Name}, Token: info})
	}
	w := tabwriter.NewWriter(i.streams.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "OAuthClient:\t%s/%s\n", oc.Namespace, oc.Name)
	printGrant(w, grant)
	fmt.Fprintf(w, "Secret:\t%s\n", secret.Name)
	return printToken(i.streams.Out, w, info, i.now())
}

// readToken reads what the token of a derived or shared token Secret says.
func readToken(secret *corev1.Secret) (tokenInfo, error) {
	token := string(secret.Data[tokenatorv1.SecretKeyAccessToken])
	if token == "" {
		return tokenInfo{}, fmt.Errorf("Secret %s/%s holds no %s", secret.Namespace, secret.Name, tokenatorv1.SecretKeyAccessToken)
	}
	info := tokenInfo{Type: string(secret.Data[tokenatorv1.SecretKeyTokenType]), Scope: secret.Annotations[tokenatorv1.AnnotationScope],
		Length: len(token), Format: "JWT"}
	if exp, err := time.Parse(time.RFC3339, string(secret.Data[tokenatorv1.SecretKeyExpiresAt])); err == nil {
		info.ExpiresAt = exp.UTC().Format(time.RFC3339)
	}
	header, claims, err := decodeJWT(token)
	if err != nil {
		info.Format, info.NotJWT = "opaque", err.Error()
		return info, nil
	}
	info.Header, info.Claims = only(header, jwtHeaderFields), only(claims, jwtClaims)
	return info, nil
}

// only keeps the named fields of m, compacted.
func only(m map[string]json.RawMessage, names []string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, name := range names {
		if raw, ok := m[name]; ok {
			var compact bytes.Buffer
			if json.Compact(&compact, raw) == nil {
				out[name] = compact.Bytes()
			}
		}
	}
	return out
}

// printToken writes info into w, which may hold lines already, then flushes
// it and prints a JWT's header and claims to out.
func printToken(out io.Writer, w *tabwriter.Writer, info tokenInfo, now time.Time) error {
	fmt.Fprintf(w, "Token type:\t%s\n", printable(info.Type))
	if exp, err := time.Parse(time.RFC3339, info.ExpiresAt); err == nil {
		fmt.Fprintf(w, "Expires at:\t%s (%s)\n", info.ExpiresAt, relative(exp, now))
	}
	if info.Scope != "" {
		fmt.Fprintf(w, "Scope granted:\t%s\n", printable(info.Scope))
	}
	fmt.Fprintf(w, "Length:\t%d characters\n", info.Length)
	if info.Format != "JWT" {
		fmt.Fprintf(w, "Format:\topaque (%s)\n", info.NotJWT)
		return w.Flush()
	}
	fmt.Fprintf(w, "Format:\tJWT (signature not shown, not verified)\n")
	if err := w.Flush(); err != nil {
		return err
	}
	printFields(out, "Header:", info.Header, jwtHeaderFields, now)
	printFields(out, "Claims:", info.Claims, jwtClaims, now)
	return nil
}

// decodeJWT returns the header and the claims of a JWS compact serialisation,
// read by oauth.UnverifiedJWT (go-jose; the signature is not verified); an
// error says why token is not one.
func decodeJWT(token string) (header, claims map[string]json.RawMessage, err error) {
	h, ok := oauth.UnverifiedJWT(token, &claims)
	switch {
	case strings.Count(token, ".") != 2:
		return nil, nil, errors.New("not three dot-separated parts")
	case !ok || claims == nil:
		return nil, nil, errors.New("not a JWS of a JSON header and a JSON object payload")
	}
	header = map[string]json.RawMessage{}
	for name, v := range map[string]string{"alg": h.Algorithm, "kid": h.KeyID, "typ": h.Type} {
		if v != "" {
			header[name], _ = json.Marshal(v)
		}
	}
	return header, claims, nil
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
