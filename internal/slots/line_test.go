package slots

import (
	"fmt"
	"slices"
	"testing"
)

// A line wakes its keys first come, first served; a key that comes back
// keeps its place; a key removed, taken or drained may come again, at the end.
func TestLine(t *testing.T) {
	var q Line
	if key, ok := q.Next(); ok || key != "" || q.Len() != 0 || q.Keys() != nil || q.Drain() != nil {
		t.Fatalf("the zero line is not empty: %q %v", key, ok)
	}
	for _, k := range []string{"a", "b", "a", "c", "b", "d"} {
		q.Add(k)
	}
	if got := q.Keys(); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("in line %v, want a b c d", got)
	}
	q.Keys()[0] = "changed"
	q.Remove("c")
	q.Remove("absent")
	if key, ok := q.Next(); !ok || key != "a" {
		t.Fatalf("first %q %v, want a", key, ok)
	}
	q.Add("a")
	q.Add("c")
	if got := q.Keys(); !slices.Equal(got, []string{"b", "d", "a", "c"}) || q.Len() != 4 {
		t.Fatalf("in line %v (%d), want b d a c", got, q.Len())
	}
	if got := q.Drain(); !slices.Equal(got, []string{"b", "d", "a", "c"}) || q.Len() != 0 {
		t.Fatalf("drained %v, %d left; want b d a c, none left", got, q.Len())
	}
	q.Add("b")
	if key, ok := q.Next(); !ok || key != "b" {
		t.Fatalf("after a drain, first %q %v, want b", key, ok)
	}
	if _, ok := q.Next(); ok {
		t.Fatal("an emptied line gave a key")
	}
}

// A line holds each key once, however often it comes back or how many keys
// went through it.
func TestLineMemory(t *testing.T) {
	var q Line
	for i := range 10000 {
		q.Add(fmt.Sprint(i % 3))
		if i%2 == 1 {
			q.Next()
		}
	}
	if q.Len() > 3 || len(q.in) != q.Len() || cap(q.keys) > 64 {
		t.Fatalf("%d keys in line, %d remembered, room for %d", q.Len(), len(q.in), cap(q.keys))
	}
	for i := range 10000 {
		q.Add(fmt.Sprint(i))
		q.Next()
	}
	if q.Len() > 3 || len(q.in) != q.Len() || cap(q.keys) > 64 {
		t.Fatalf("%d keys in line, %d remembered, room for %d", q.Len(), len(q.in), cap(q.keys))
	}
}
