package controllers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/tokenator-dev/tokenator/internal/oauth/oauthtest"
)

// `kubectl get oauthclients` shows Ready, Reason, Expires and Age: the API
// server renders the table from the CRD's printer columns.
func TestPrinterColumns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, oauthtest.Config{Kind: oauthtest.Lucca})
	e.create(e.oauthClient("api"))
	st := e.waitReady("api").Status

	hc, err := rest.HTTPClientFor(restConfig)
	e.g.Expect(err).NotTo(HaveOccurred())
	u, err := url.JoinPath(restConfig.Host, "apis/tokenator.dev/v1alpha1/namespaces", e.ns, "oauthclients")
	e.g.Expect(err).NotTo(HaveOccurred())
	req, err := http.NewRequest(http.MethodGet, u, nil)
	e.g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	e.g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var table metav1.Table
	e.g.Expect(json.Unmarshal(body, &table)).To(Succeed(), string(body))

	var names []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	e.g.Expect(names).To(Equal([]string{"Name", "Ready", "Reason", "Expires", "Age"}))
	e.g.Expect(table.Rows).To(HaveLen(1))
	cells := table.Rows[0].Cells
	e.g.Expect(cells[1]).To(Equal("True"))
	e.g.Expect(cells[2]).To(Equal("TokenIssued"))
	e.g.Expect(cells[3]).To(Equal(st.ExpiresAt.UTC().Format(time.RFC3339)), "Expires shows when the token expires")
}
