package oauth

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Finding the fragments of secrets in a text in linear time.
//
// The text examined is small (sanitize cuts it to maxSanitizeInput runes,
// wrapped error messages are short) but a secret can be huge: an access token
// learnt from a body can fill the 1 MiB response limit. So the text's windows
// of minFragmentRunes runes are indexed in a hash table, each secret is read
// once with a rolling key of its own windows, and every window of the text
// found in a secret marks its positions. A maximal run of marked positions
// becomes one redactedMarker.
//
// The work is O(len(text) + len(secrets)) and the memory O(len(text)): no
// secret is copied, lower-cased as a whole or indexed.
//
// Every substring of the text of minFragmentRunes runes or more that occurs
// in a secret (ignoring case) is marked, since each of its windows occurs in
// that secret. The converse does not hold: a run can be made of windows found
// at different places of the secrets, so a little more than a fragment can be
// redacted. That errs on the safe side.

// fragmentCheckEvery is how many bytes of a secret are read between two looks
// at the context.
const fragmentCheckEvery = 1 << 16

var (
	// windowSlotMix spreads a window's key over the table's slots and the
	// filter's bits (multiplicative hashing: the high bits of the product
	// depend on every bit of the key). It is odd, and random for each
	// process so that a server cannot choose windows that fill one chain of
	// the table or one bit of the filter.
	windowSlotMix = rand.Uint64() | 1
	// runeCodeMix hashes a non-ASCII rune to its code, randomly for each
	// process for the same reason.
	runeCodeMix = rand.Uint32() | 1
)

// window is minFragmentRunes lower-cased runes.
type window [minFragmentRunes]rune

// A window's key is one byte for each of its runes, the oldest in the high
// byte: so the key of the next window is key<<8 | runeCode(next), with no
// multiplication on the path from one rune to the next, and eight ASCII bytes
// are eight keys at once. It is exact for a window of ASCII runes; other runes
// share 128 codes, and such a window whose key matches is compared rune by
// rune.

// runeCode is the byte that stands for a lower-cased rune in a window's key:
// the rune itself when it is ASCII, else 0x80 and 7 bits of a hash of it.
func runeCode(r rune) uint64 {
	if r < utf8.RuneSelf {
		return uint64(r)
	}
	return 0x80 | uint64(uint32(r)*runeCodeMix>>25)
}

// lowerASCII maps an ASCII byte to its lower case, without a branch that a
// mixed-case secret would keep mispredicting.
var lowerASCII = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		t[c] = byte(unicode.ToLower(rune(c)))
	}
	return t
}()

// highBits has the high bit of each byte of a word set: a word of ASCII bytes
// has none of them, and a key of ASCII runes neither.
const highBits = 0x8080808080808080

// loadWord returns the eight bytes of s from i, the first in the high byte.
func loadWord(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
		uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
}

// lowerWord lower-cases the eight ASCII bytes of x at once: a byte from 'A'
// to 'Z' is one that reaches 0x80 when 0x80-'A' is added but not when
// 0x7f-'Z' is (no byte carries into the next, all being below 0x80), and it
// gains 0x20.
func lowerWord(x uint64) uint64 {
	const fromA, pastZ = 0x3f3f3f3f3f3f3f3f, 0x2525252525252525
	return x | (((x+fromA)^(x+pastZ))&highBits)>>2
}

// textWindows indexes the windows of texts. No window spans two texts.
type textWindows struct {
	texts   [][]rune  // the texts
	at      [][]int32 // the index in windows of the window at each position of each text
	windows []window  // the distinct windows
	keys    []uint64  // the key of each distinct window
	found   []bool    // whether each distinct window was found in a secret
	left    int       // distinct windows not found yet
	slots   []int32   // open addressing: a windows index + 1, 0 when free
	shift   uint      // 64 - log2(len(slots))
	// filter has a bit set for each window not found yet (filterBit of its
	// key), counted in filterCount: a secret's window whose bit is clear,
	// nearly all of them, is not looked up in the table, and a window once
	// found costs nothing more. It has 64 bits or more for each window (at
	// most 1<<maxFilterBits).
	filter      []uint64
	filterShift uint // 64 - log2(len(filter)*64)
	filterCount map[uint64]int32
}

// minFilterBits and maxFilterBits bound the size of a filter, as powers of
// two: the largest is 32 KiB, which stays in a core's first-level cache.
const minFilterBits, maxFilterBits = 12, 18

// filterBit is the bit of the filter that stands for key.
func (w *textWindows) filterBit(key uint64) uint64 { return (key * windowSlotMix) >> w.filterShift }

// newTextWindows indexes the windows of texts; nil when none is as long as
// one.
func newTextWindows(texts []string) *textWindows {
	w := &textWindows{texts: make([][]rune, len(texts)), at: make([][]int32, len(texts)), filterCount: map[uint64]int32{}}
	total := 0
	for i, s := range texts {
		w.texts[i] = []rune(s)
		total += max(0, len(w.texts[i])-minFragmentRunes+1)
	}
	if total == 0 {
		return nil
	}
	// At least eight slots for each window: most probes end at a free slot.
	size := bits.Len(uint(8*total - 1))
	w.slots, w.shift = make([]int32, 1<<size), uint(64-size)
	size = min(max(bits.Len(uint(64*total-1)), minFilterBits), maxFilterBits)
	w.filter, w.filterShift = make([]uint64, 1<<(size-6)), uint(64-size)
	for i, runes := range w.texts {
		if n := len(runes) - minFragmentRunes + 1; n > 0 {
			w.at[i] = make([]int32, n)
		}
		for p := range w.at[i] {
			var win window
			var key uint64
			for k := range win {
				win[k] = unicode.ToLower(runes[p+k])
				key = key<<8 | runeCode(win[k])
			}
			w.at[i][p] = w.insert(key, &win)
		}
	}
	w.found = make([]bool, len(w.windows))
	w.left = len(w.windows)
	return w
}

// insert returns the index of win, of the given key, adding it when it is not
// there yet.
func (w *textWindows) insert(key uint64, win *window) int32 {
	mask := uint64(len(w.slots) - 1)
	for s := (key * windowSlotMix) >> w.shift; ; s = (s + 1) & mask {
		id := w.slots[s] - 1
		if id < 0 {
			w.windows = append(w.windows, *win)
			w.keys = append(w.keys, key)
			w.slots[s] = int32(len(w.windows))
			bit := w.filterBit(key)
			w.filter[bit/64] |= 1 << (bit % 64)
			w.filterCount[bit]++
			return int32(len(w.windows) - 1)
		}
		if w.keys[id] == key && w.windows[id] == *win {
			return id
		}
	}
}

// maybe reports whether a window of the given key may be one not found yet.
func (w *textWindows) maybe(key uint64) bool { return w.filterHas(key) != 0 }

// filterHas is 1 when the filter bit of key is set, else 0.
func (w *textWindows) filterHas(key uint64) uint64 {
	bit := w.filterBit(key)
	return w.filter[bit/64] >> (bit % 64) & 1
}

// maybeInWord reports whether one of the eight windows that end with the
// bytes of x, after runes of the given key, may be one not found yet: one
// branch for eight windows.
func (w *textWindows) maybeInWord(key, x uint64) bool {
	return w.filterHas(key<<8|x>>56)|w.filterHas(key<<16|x>>48)|w.filterHas(key<<24|x>>40)|w.filterHas(key<<32|x>>32)|
		w.filterHas(key<<40|x>>24)|w.filterHas(key<<48|x>>16)|w.filterHas(key<<56|x>>8)|w.filterHas(x) != 0
}

// scan marks the windows of the texts found in secret, ignoring case; secret
// must be valid UTF-8. It reads secret once, eight ASCII bytes at a time where
// it can, and stops early when every window is found, or when ctx is done,
// then returning its error.
func (w *textWindows) scan(ctx context.Context, secret string) error {
	var key uint64 // the codes of the last runes read
	var lower lowerCache
	runes, nextCheck := 0, fragmentCheckEvery
	for i := 0; i < len(secret); {
		if i >= nextCheck {
			if err := ctx.Err(); err != nil {
				return err
			}
			nextCheck = i + fragmentCheckEvery
		}
		if runes >= minFragmentRunes-1 && i+8 <= len(secret) {
			if x := loadWord(secret, i); x&highBits == 0 {
				x = lowerWord(x)
				if w.maybeInWord(key, x) && w.hitInWord(key, x, secret, i) {
					return nil
				}
				key, i, runes = x, i+8, runes+8
				continue
			}
		}
		r, size := rune(secret[i]), 1
		if r < utf8.RuneSelf {
			r = rune(lowerASCII[r])
		} else {
			r, size = utf8.DecodeRuneInString(secret[i:])
			r = lower.of(r)
		}
		key = key<<8 | runeCode(r)
		i, runes = i+size, runes+1
		if runes >= minFragmentRunes && w.maybe(key) && w.hit(key, secret, i) {
			return nil
		}
	}
	return nil
}

// lowerCache remembers the lower case of the last non-ASCII runes seen, by
// their low byte: unicode.ToLower searches a table, and a secret's runes are
// seldom all different.
type lowerCache [256]struct{ r, lower rune }

// of returns unicode.ToLower(r).
func (c *lowerCache) of(r rune) rune {
	e := &c[r&0xff]
	if e.r != r {
		e.r, e.lower = r, unicode.ToLower(r)
	}
	return e.lower
}

// hitInWord is hit for each of the eight windows that end with the bytes of
// x, which start at byte i of secret, after runes of the given key.
func (w *textWindows) hitInWord(key, x uint64, secret string, i int) bool {
	for k := range 8 {
		// A shift by 64 gives 0.
		wk := key<<(8*(k+1)) | x>>(8*(7-k))
		if w.maybe(wk) && w.hit(wk, secret, i+k+1) {
			return true
		}
	}
	return false
}

// hit looks up the window of secret of the given key that ends at byte end,
// marks it found when it is a window of the texts not found yet, and reports
// whether every window is found now.
func (w *textWindows) hit(key uint64, secret string, end int) bool {
	mask := uint64(len(w.slots) - 1)
	for s := (key * windowSlotMix) >> w.shift; ; s = (s + 1) & mask {
		id := w.slots[s] - 1
		if id < 0 {
			return false
		}
		if w.keys[id] != key || w.found[id] {
			continue
		}
		// A key of ASCII runes only is exact; other runes share codes.
		if key&highBits != 0 && !w.windows[id].endsAt(secret, end) {
			continue
		}
		w.found[id] = true
		w.left--
		bit := w.filterBit(key)
		if w.filterCount[bit]--; w.filterCount[bit] == 0 {
			w.filter[bit/64] &^= 1 << (bit % 64)
		}
		return w.left == 0
	}
}

// endsAt reports whether the runes of secret, valid UTF-8, that end at byte
// end are those of win, ignoring case.
func (win *window) endsAt(secret string, end int) bool {
	for k := minFragmentRunes - 1; k >= 0; k-- {
		r, size := utf8.DecodeLastRuneInString(secret[:end])
		if size == 0 || unicode.ToLower(r) != win[k] {
			return false
		}
		end -= size
	}
	return true
}

// redacted returns texts[i], the text of that index given to newTextWindows,
// with each maximal run of positions covered by a found window replaced by
// redactedMarker; text itself when no window of it was found.
func (w *textWindows) redacted(i int, text string) string {
	at := w.at[i]
	if !slices.ContainsFunc(at, func(id int32) bool { return w.found[id] }) {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	end, inRun := 0, false
	for p, r := range w.texts[i] {
		if p < len(at) && w.found[at[p]] {
			end = p + minFragmentRunes
		}
		if p < end {
			if !inRun {
				b.WriteString(redactedMarker)
				inRun = true
			}
			continue
		}
		inRun = false
		b.WriteRune(r)
	}
	return b.String()
}
