package actors

import (
	"fmt"
	"slices"
	"testing"
)

func TestKeySet(t *testing.T) {
	var s keySet
	var want []string
	for i := range 40 { // past keySetSmall: the set becomes a map
		k := fmt.Sprint("k", i)
		if !s.add(k) || s.add(k) {
			t.Fatalf("add %s twice: want true then false", k)
		}
		want = append(want, k)
		if i%3 == 0 {
			if !s.remove(k) || s.remove(k) {
				t.Fatalf("remove %s twice: want true then false", k)
			}
			want = want[:len(want)-1]
		}
		var got []string
		s.each(func(k string) { got = append(got, k) })
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("after %d: got %v, want %v", i, got, w)
		}
		for _, k := range want {
			if !s.has(k) {
				t.Fatalf("has %s: false", k)
			}
		}
		if s.has("nope") {
			t.Fatal("has nope")
		}
	}
	s.clear()
	if s.has("k1") || s.small != nil || s.big != nil {
		t.Fatal("clear left keys")
	}
}
