package chart_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The options of "Hardening for strict clusters" (docs/security.md): the
// egress NetworkPolicy, --credentials-selector, watchNamespaces without any
// cluster-wide access to Secrets, and an image pinned by digest. Each value set
// is rendered, checked, and applied to the API server (dry run).
func TestChartHardening(t *testing.T) {
	t.Parallel()
	flags := managerFlags(t)
	const ns = "tokenator-strict"
	values := map[string]any{
		"watchNamespaces":     []string{"strict-a", "strict-b"},
		"credentialsSelector": "tokenator.dev/credentials=true",
		"image":               map[string]any{"tag": "v9.9.9", "digest": digest},
		"networkPolicy": map[string]any{
			"enabled":     true,
			"apiServer":   map[string]any{"cidrs": []string{"10.96.0.1/32", "172.18.0.2/32"}},
			"metricsFrom": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}},
		},
	}
	g := NewWithT(t)
	r := rendered(render(t, ns, values))
	d := checkDeployment(g, r, flags)
	c := d.Spec.Template.Spec.Containers[0]

	// --credentials-selector, a flag of cmd/main.go (checkDeployment).
	// The release namespace, the cluster resource namespace, is watched too.
	g.Expect(c.Args).To(ContainElements("--credentials-selector=tokenator.dev/credentials=true", "--namespaces=strict-a,strict-b,tokenator-strict"))
	// The digest, not the tag.
	g.Expect(c.Image).To(Equal("ghcr.io/tokenator-dev/tokenator@" + digest))

	// No ClusterRole grants anything on Secrets; the manager's Roles do, in the
	// watched namespaces only.
	g.Expect(secretGrants(g, r, "ClusterRole")).To(BeEmpty())
	g.Expect(secretGrants(g, r, "Role")).To(ConsistOf("strict-a/"+fullname+"-manager", "strict-b/"+fullname+"-manager", ns+"/"+fullname+"-manager"))

	var np networkingv1.NetworkPolicy
	typed(g, r.one(g, "NetworkPolicy"), &np)
	g.Expect(np.Namespace).To(Equal(ns))
	checkSelectsManager(g, np, d)
	g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))

	// Ingress: the probes' port from anywhere, the metrics port from the
	// monitoring namespace, nothing else.
	health, metrics := containerPort(g, c, "health"), containerPort(g, c, "metrics")
	g.Expect(allowsIngress(np, nil, health)).To(BeTrue(), "probes")
	g.Expect(allowsIngress(np, map[string]string{"kubernetes.io/metadata.name": "monitoring"}, metrics)).To(BeTrue())
	g.Expect(allowsIngress(np, map[string]string{"kubernetes.io/metadata.name": "shop"}, metrics)).To(BeFalse())
	g.Expect(allowsIngress(np, nil, 9443)).To(BeFalse())

	// Egress by address: the API server, public token endpoints on 443; not
	// the metadata service, the Pod network, loopback, or other ports.
	for _, tc := range []struct {
		addr  string
		port  int32
		allow bool
	}{
		{"10.96.0.1", 443, true},
		{"172.18.0.2", 6443, true},
		{"203.0.113.10", 443, true},
		{"2001:db8::10", 443, true},
		{"203.0.113.10", 80, false},
		{"169.254.169.254", 443, false},
		{"169.254.169.254", 80, false},
		{"10.244.1.7", 443, false},
		{"192.168.1.1", 443, false},
		{"127.0.0.1", 443, false},
		{"fd00:ec2::254", 443, false},
		{"fe80::1", 443, false},
	} {
		g.Expect(allowsEgressTo(np, netip.MustParseAddr(tc.addr), tc.port)).To(Equal(tc.allow), "%s:%d", tc.addr, tc.port)
	}
	// DNS: UDP and TCP port 53 to the cluster DNS pods only.
	dns := np.Spec.Egress[0]
	g.Expect(dns.Ports).To(ConsistOf(
		networkingv1.NetworkPolicyPort{Protocol: ptrTo(corev1.ProtocolUDP), Port: ptrTo(intstr.FromInt32(53))},
		networkingv1.NetworkPolicyPort{Protocol: ptrTo(corev1.ProtocolTCP), Port: ptrTo(intstr.FromInt32(53))}))
	g.Expect(dns.To).To(ConsistOf(networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
	}))

	ctx := context.Background()
	for _, n := range []string{ns, "strict-a", "strict-b"} {
		ensureNamespace(t, n, nil)
	}
	for _, u := range r {
		g.Expect(applyDryRun(ctx, u)).To(Succeed(), "%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	}
}

// With metrics off, the policy opens the health port only; a proxy in
// extraEgress, with no direct token endpoint, is the only way out besides DNS
// and the API server.
func TestChartNetworkPolicyBehindProxy(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	const ns = "tokenator-proxy"
	r := rendered(render(t, ns, map[string]any{
		"metrics": map[string]any{"enabled": false},
		"networkPolicy": map[string]any{
			"enabled":        true,
			"apiServer":      map[string]any{"cidrs": []string{"192.168.10.5/32"}, "ports": []int{6443}},
			"tokenEndpoints": map[string]any{"ipBlocks": []any{}},
			"extraEgress": []any{map[string]any{
				"to":    []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.20.30.40/32"}}},
				"ports": []any{map[string]any{"port": 3128, "protocol": "TCP"}},
			}},
		},
	}))
	d := checkDeployment(g, r, managerFlags(t))
	var np networkingv1.NetworkPolicy
	typed(g, r.one(g, "NetworkPolicy"), &np)
	checkSelectsManager(g, np, d)
	g.Expect(np.Spec.Ingress).To(HaveLen(1))
	g.Expect(allowsIngress(np, nil, containerPort(g, d.Spec.Template.Spec.Containers[0], "health"))).To(BeTrue())
	g.Expect(allowsIngress(np, nil, 8080)).To(BeFalse())
	g.Expect(allowsEgressTo(np, netip.MustParseAddr("10.20.30.40"), 3128)).To(BeTrue(), "the proxy")
	g.Expect(allowsEgressTo(np, netip.MustParseAddr("192.168.10.5"), 6443)).To(BeTrue(), "the API server")
	g.Expect(allowsEgressTo(np, netip.MustParseAddr("192.168.10.5"), 443)).To(BeFalse())
	g.Expect(allowsEgressTo(np, netip.MustParseAddr("203.0.113.10"), 443)).To(BeFalse(), "no direct token request")

	ensureNamespace(t, ns, nil)
	for _, u := range r {
		g.Expect(applyDryRun(context.Background(), u)).To(Succeed(), "%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	}
}

// Hardening values that cannot work fail helm template, saying what to change.
// The schema refuses them first (TestChartRefusesBadValues); the templates check
// them too, for --skip-schema-validation.
func TestChartRejectsWeakHardeningValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{
			values: map[string]any{"networkPolicy": map[string]any{"enabled": true}},
			want:   "networkPolicy.apiServer.cidrs is required with networkPolicy.enabled",
		},
		{
			values: map[string]any{"image": map[string]any{"digest": "latest"}},
			want:   `image.digest must be sha256: followed by 64 lower-case hex digits, got "latest"`,
		},
		{
			values: map[string]any{"image": map[string]any{"digest": strings.TrimPrefix(digest, "sha256:")}},
			want:   "image.digest must be sha256:",
		},
	} {
		_, err := helm(t, append(templateArgs(t, "tokenator-system", tc.values), "--skip-schema-validation")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %v: want an error with %q, got %v", tc.values, tc.want, err)
		}
	}
}

// secretGrants lists the roles of a kind (namespace/name) with a rule on
// Secrets, or on every resource of the core group.
func secretGrants(g Gomega, r rendered, kind string) []string {
	var out []string
	for _, u := range r.all(kind) {
		var role rbacv1.Role // a ClusterRole's rules have the same shape
		typed(g, u, &role)
		for _, rule := range role.Rules {
			core := contains(rule.APIGroups, "") || contains(rule.APIGroups, "*")
			if core && (contains(rule.Resources, "secrets") || contains(rule.Resources, "*")) {
				out = append(out, u.GetNamespace()+"/"+u.GetName())
				break
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkSelectsManager checks that the policy's pod selector selects the
// manager's pods.
func checkSelectsManager(g Gomega, np networkingv1.NetworkPolicy, d *appsv1.Deployment) {
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	g.ExpectWithOffset(1, sel.Empty()).To(BeFalse(), "the policy selects the manager pods, not the whole namespace")
	g.ExpectWithOffset(1, sel.Matches(labels.Set(d.Spec.Template.Labels))).To(BeTrue(), "the policy selects the manager pods")
}

func containerPort(g Gomega, c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	g.ExpectWithOffset(1, name).To(BeEmpty(), "no container port %q", name)
	return 0
}

// allowsIngress reports whether a rule of the policy admits TCP traffic to
// port from a pod of a namespace with nsLabels (nil: a source outside any
// namespace selector, such as the kubelet or another network).
func allowsIngress(np networkingv1.NetworkPolicy, nsLabels map[string]string, port int32) bool {
	for _, rule := range np.Spec.Ingress {
		if !portMatches(rule.Ports, port) {
			continue
		}
		if len(rule.From) == 0 {
			return true
		}
		for _, peer := range rule.From {
			if peer.NamespaceSelector == nil || nsLabels == nil || peer.IPBlock != nil {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
			if err == nil && sel.Matches(labels.Set(nsLabels)) && peer.PodSelector == nil {
				return true
			}
		}
	}
	return false
}

// allowsEgressTo reports whether an ipBlock rule of the policy admits TCP
// traffic to addr:port, as a network plugin evaluates it: in the block's
// CIDR and in none of its exceptions.
func allowsEgressTo(np networkingv1.NetworkPolicy, addr netip.Addr, port int32) bool {
	for _, rule := range np.Spec.Egress {
		if !portMatches(rule.Ports, port) {
			continue
		}
		if len(rule.To) == 0 {
			return true // every destination
		}
		for _, peer := range rule.To {
			if peer.IPBlock == nil || !netip.MustParsePrefix(peer.IPBlock.CIDR).Contains(addr) {
				continue
			}
			excepted := false
			for _, e := range peer.IPBlock.Except {
				if netip.MustParsePrefix(e).Contains(addr) {
					excepted = true
				}
			}
			if !excepted {
				return true
			}
		}
	}
	return false
}

// portMatches reports whether the ports of a rule admit TCP port (no ports:
// every port).
func portMatches(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto == corev1.ProtocolTCP && p.Port != nil && p.Port.Type == intstr.Int && p.Port.IntVal == port {
			return true
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }
