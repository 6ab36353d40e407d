package main

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"

	tokenatorv1 "github.com/tokenator-dev/tokenator/api/v1alpha1"
)

// selection is which OAuthClients a command acts on: names, or every one
// matching a label selector, in one namespace or in all of them.
type selection struct {
	allNamespaces bool
	selector      string
	all           bool
}

// found is an OAuthClient found by the resource builder: the object as the
// API server returned it (for -o json|yaml) and typed.
type found struct {
	info *resource.Info
	raw  *unstructured.Unstructured
	oc   *tokenatorv1.OAuthClient
}

// find returns the OAuthClients named, or selected, sorted by namespace and
// name. With neither names nor a selector every OAuthClient of the namespace
// (or of all namespaces) is returned.
func (o *options) find(sel selection, names []string) ([]found, error) {
	infos, err := o.infos(resourceName, sel, names)
	if err != nil {
		return nil, err
	}
	out := make([]found, 0, len(infos))
	for _, info := range infos {
		c, err := toClient(info)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].oc.Namespace != out[j].oc.Namespace {
			return out[i].oc.Namespace < out[j].oc.Namespace
		}
		return out[i].oc.Name < out[j].oc.Name
	})
	return out, nil
}

// infos returns the objects of a resource named, or selected, as the
// resource builder finds them.
func (o *options) infos(res string, sel selection, names []string) ([]*resource.Info, error) {
	ns, err := o.namespace()
	if err != nil {
		return nil, err
	}
	args := append([]string{res}, names...)
	r := o.builder().
		NamespaceParam(ns).DefaultNamespace().AllNamespaces(sel.allNamespaces).
		LabelSelectorParam(sel.selector).
		ResourceTypeOrNameArgs(true, args...).
		ContinueOnError().
		Latest().
		Flatten().
		Do()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return r.Infos()
}

func toClient(info *resource.Info) (found, error) {
	u, ok := info.Object.(*unstructured.Unstructured)
	if !ok {
		return found{}, fmt.Errorf("unexpected object %T", info.Object)
	}
	oc := &tokenatorv1.OAuthClient{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, oc); err != nil {
		return found{}, fmt.Errorf("reading OAuthClient %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return found{info: info, raw: u, oc: oc}, nil
}

// secretName is the name of the derived Secret: the status's, else the spec's,
// else the default.
func secretName(oc *tokenatorv1.OAuthClient) string {
	switch {
	case oc.Status.SecretName != "":
		return oc.Status.SecretName
	case oc.Spec.Secret.Name != "":
		return oc.Spec.Secret.Name
	}
	return oc.Name + "-token"
}
