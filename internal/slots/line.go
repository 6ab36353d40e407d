package slots

import "slices"

// Line is a first-in first-out queue of distinct keys: a key already in line
// keeps its place, so a line holds at most one entry per waiter however often
// it comes back. The zero value is an empty line. It is not safe for
// concurrent use: the lock of its owner guards it.
type Line struct {
	keys []string
	in   map[string]bool
}

// Add puts key at the end of the line, unless it is in line already.
func (q *Line) Add(key string) {
	if q.in[key] {
		return
	}
	if q.in == nil {
		q.in = map[string]bool{}
	}
	q.in[key] = true
	q.keys = append(q.keys, key)
}

// Remove takes key out of the line, wherever it is.
func (q *Line) Remove(key string) {
	if q.in[key] {
		delete(q.in, key)
		q.keys = slices.DeleteFunc(q.keys, func(k string) bool { return k == key })
	}
}

// Next takes the first key in line; false when the line is empty.
func (q *Line) Next() (string, bool) {
	if len(q.keys) == 0 {
		return "", false
	}
	key := q.keys[0]
	q.keys = q.keys[1:]
	delete(q.in, key)
	return key, true
}

// Drain takes every key in line, first first, and leaves the line empty.
func (q *Line) Drain() []string {
	keys := q.keys
	q.keys, q.in = nil, nil
	return keys
}

// Keys are the keys in line, first first; they stay in line.
func (q *Line) Keys() []string { return slices.Clone(q.keys) }

// Len is the number of keys in line.
func (q *Line) Len() int { return len(q.keys) }
