package refvalues

import "testing"

// sizedLRU keeps values while their sizes fit its limit, dropping the least
// recently used first; a value added again replaces its size.
func TestSizedLRU(t *testing.T) {
	c := newSizedLRU(100)
	c.add("a", 1, 40)
	c.add("b", 2, 40)
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("a dropped below the limit")
	}
	c.add("c", 3, 40) // 120 > 100: b goes, not a
	if _, ok := c.get("b"); ok {
		t.Error("b kept past the limit")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("%s dropped", k)
		}
	}
	if got := c.size(); got != 80 {
		t.Errorf("size %d, want 80", got)
	}
	c.add("a", 4, 10) // replaced: 10 + 40
	if v, _ := c.get("a"); v != 4 || c.size() != 50 {
		t.Errorf("after replacing a: value %v, size %d; want 4, 50", v, c.size())
	}
	c.remove("c")
	if c.size() != 10 {
		t.Errorf("after removing c: size %d, want 10", c.size())
	}
	c.add("big", 5, 101) // alone over the limit: not kept, and nothing else either
	if _, ok := c.get("big"); ok || c.size() != 0 {
		t.Errorf("a value over the limit kept (size %d)", c.size())
	}
}
